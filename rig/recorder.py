"""Board-side IRQ recorder, installed by the harness after every soft reset.

It records each event with its data copied (memoryviews -> bytes, UUIDs ->
('UUID', bytes)), so the records survive the handler and can be sent back
with repr() and read with ast.literal_eval. Waiting happens on the board, in
a sleep loop that lets scheduled IRQ callbacks run.
"""
from __future__ import annotations

RECORDER_SOURCE = '''
import bluetooth
try:
    import time
except ImportError:
    import utime as time
class _MpbtRecorder:
    LIMIT = 256
    def __init__(self):
        self.queue = []
        self.replies = {}
        self.dropped = 0
        self.scan_from = None  # when set: only scan results from this address are kept
        self.scan_other = 0
    def _copy(self, x):
        if type(x) is memoryview or type(x) is bytearray:
            return bytes(x)
        if type(x) in (int, bool, str, bytes) or x is None:
            return x
        uuid = getattr(bluetooth, 'UUID', None)
        if uuid is not None and isinstance(x, uuid):
            return ('UUID', bytes(x))
        return ('repr', repr(x))
    def irq(self, event, data):
        if event == 5 and self.scan_from is not None and bytes(data[1]) != self.scan_from:
            self.scan_other += 1
            return None
        if len(self.queue) < self.LIMIT:
            self.queue.append((event, tuple(self._copy(x) for x in data)))
        else:
            self.dropped += 1
        return self.replies.get(event)
    def take(self):
        queue = self.queue
        self.queue = []
        return queue
    def wait(self, codes, timeout_ms):
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            for event in self.queue:
                if event[0] in codes:
                    return self.take()
            time.sleep_ms(5)
        return self.take()
_mpbt_rec = _MpbtRecorder()
'''
