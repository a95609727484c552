"""The API spec's gatts_register_services example (Heart Rate + Nordic UART),
as board-side code defining HR_SERVICE and UART_SERVICE."""
from __future__ import annotations

HR_UART = '''
HR_SERVICE = (bluetooth.UUID(0x180D), ((bluetooth.UUID(0x2A37), bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY),),)
UART_SERVICE = (bluetooth.UUID('6E400001-B5A3-F393-E0A9-E50E24DCCA9E'), (
    (bluetooth.UUID('6E400003-B5A3-F393-E0A9-E50E24DCCA9E'), bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY),
    (bluetooth.UUID('6E400002-B5A3-F393-E0A9-E50E24DCCA9E'), bluetooth.FLAG_WRITE),
),)
'''
