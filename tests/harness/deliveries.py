"""When a virtual radio's controller receives ACL data from the air."""
from __future__ import annotations

import time

from tools.radio import Radio


def record_deliveries(radio: Radio, index: int) -> list[float]:
    """A list that gets the radio loop's time.monotonic() each time controller
    `index` receives an ACL PDU over the air, from now on."""
    controller = radio.controller(index)
    delivered_at: list[float] = []
    original = controller.on_link_acl_data

    def record(*args: object) -> None:
        delivered_at.append(time.monotonic())
        original(*args)  # type: ignore[arg-type]
    radio.call(lambda: setattr(controller, 'on_link_acl_data', record))
    return delivered_at
