"""python -m tools.radio TRANSPORT... : run the virtual radio until Ctrl-C."""
from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from .radio import Radio


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tools.radio',
        description='Start virtual LE controllers on one shared link, one per HCI '
                    'transport, until SIGINT/SIGTERM.',
        epilog='Examples: pty:/tmp/hci0 (a pty, symlinked at that path, for a unix '
               'board); tcp-server:_:0 (listen on 127.0.0.1, free port; for a qemu '
               'board or a test-side host). Controller N gets public address '
               '02:B1:E0:00:00:(N+1).',
    )
    parser.add_argument('transports', nargs='+', metavar='TRANSPORT',
                        help='pty:PATH or tcp-server:_:PORT (host _ = 127.0.0.1, port 0 = any free)')
    parser.add_argument('--capture-dir', type=Path,
                        help='write controllerN.btsnoop captures here')
    parser.add_argument('--acl-length', type=int, default=None,
                        help='LE ACL data packet length the controllers advertise '
                             '(default 251, 27 with --legacy-controller)')
    parser.add_argument('--legacy-controller', action='store_true',
                        help='the old controller: 27-octet buffers and LL PDUs, LE 1M only, '
                             'no Data Length Extension nor PHY commands')
    parser.add_argument('--no-air-pacing', action='store_true',
                        help='deliver ACL data at once instead of at air speed '
                             '(faster than any real radio; for benches that say so)')
    parser.add_argument('--no-connection-events', action='store_true',
                        help='ACL data at any time, not only inside connection events at each '
                             'link\'s interval (and peripheral latency), which is the default')
    parser.add_argument('-v', '--verbose', action='store_true', help='log HCI traffic')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with Radio(args.transports, capture_dir=args.capture_dir,
               le_acl_data_packet_length=args.acl_length,
               air_pacing=not args.no_air_pacing,
               legacy_controllers=args.legacy_controller,
               connection_events=False if args.no_connection_events else None) as radio:
        if args.no_air_pacing:
            print('air pacing OFF: ACL data is delivered faster than LE 1M allows', flush=True)
        for info in radio.controllers:
            where = f'127.0.0.1:{info.tcp_port}' if info.tcp_port is not None else info.pty_path
            print(f'controller {info.index}: {info.transport} -> {where} '
                  f'public address {info.public_address}', flush=True)
        while not done.wait(0.5):
            if not radio.running:
                return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
