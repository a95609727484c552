"""Write the SMP fuzzer's seed scripts: one complete pairing per method and
role (legacy and Secure Connections, bonding with key distribution), a
re-encryption with the bond after a reconnect, and a bonded peer that lost
its key. The script format is described at the top of fuzz_smp.c.

    python3 tests/fuzz/seeds.py tests/fuzz/corpus
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

# I/O capabilities.
DISPLAY_ONLY, DISPLAY_YESNO, KEYBOARD_ONLY, NO_IO, KEYBOARD_DISPLAY = range(5)
# Configuration and peer template bits.
MITM, SC, BOND = 0x08, 0x10, 0x20
# Steps (fuzz_smp.c), the poll bit, the link bit.
DELIVER, CONTROLLER, PASSKEY, TICK, DISCONNECT, RESTART = 0, 2, 4, 5, 8, 14
POLL, LINK1 = 0x40, 0x80
KEYS_16_ENC_ID = 16 | (0x03 << 5)


@dataclass(frozen=True)
class Seed:
    name: str
    ours: int          # configuration octet
    peer: int          # the peer's template octet
    link: int          # 0: we are peripheral, 1: we are central
    store: int = 0     # header octet 7
    reconnect: bool = False


def drive(link: int, rounds: int) -> bytes:
    """Answer commands, passkey events and the peer's PDUs until done."""
    lb = LINK1 if link else 0
    one = bytes([CONTROLLER | POLL, PASSKEY | POLL | lb, 0, DELIVER | POLL | lb])
    return one * rounds


def script(seed: Seed) -> bytes:
    peers = [bytes([NO_IO, KEYS_16_ENC_ID, 0])] * 2
    peers[seed.link] = bytes([seed.peer, KEYS_16_ENC_ID, 0])
    header = bytes([seed.ours]) + peers[0] + peers[1] + bytes([seed.store, 0, 0])
    lb = LINK1 if seed.link else 0
    body = bytes([RESTART | POLL | lb, 0]) + drive(seed.link, 48)
    if seed.reconnect:
        # The link drops and comes back; the central encrypts with the bond.
        body += bytes([DISCONNECT | POLL | lb, 0, TICK | POLL, 100])
        if seed.link:
            body += bytes([0x07 | POLL | lb])  # gap_pair: we encrypt
        else:
            body += bytes([RESTART | POLL | lb, 1])
        body += drive(seed.link, 6)
    return header + body


def seeds() -> list[Seed]:
    out = []
    for link in (0, 1):
        role = "periph" if link == 0 else "central"
        methods = [
            ("legacy_jw", NO_IO | BOND, NO_IO | BOND),
            ("legacy_pk_we_show", DISPLAY_ONLY | MITM | BOND, KEYBOARD_ONLY | MITM | BOND),
            ("legacy_pk_we_type", KEYBOARD_ONLY | MITM | BOND, DISPLAY_ONLY | MITM | BOND),
            ("sc_jw", NO_IO | BOND, NO_IO | SC | BOND),
            ("sc_nc", DISPLAY_YESNO | MITM | BOND, DISPLAY_YESNO | MITM | SC | BOND),
            ("sc_pk_we_show", DISPLAY_ONLY | MITM | BOND, KEYBOARD_ONLY | MITM | SC | BOND),
            ("sc_pk_we_type", KEYBOARD_ONLY | MITM | BOND, DISPLAY_ONLY | MITM | SC | BOND),
            ("sc_pk_both_type", KEYBOARD_ONLY | MITM | BOND, KEYBOARD_ONLY | MITM | SC | BOND),
        ]
        for name, ours, peer in methods:
            out.append(Seed(f"{role}_{name}", ours, peer, link))
        out.append(Seed(f"{role}_legacy_reencrypt", NO_IO | BOND, NO_IO | BOND, link,
                        reconnect=True))
        out.append(Seed(f"{role}_sc_reencrypt", NO_IO | BOND, NO_IO | SC | BOND, link,
                        reconnect=True))
        # A stored authenticated SC bond; the peer lost it (we are central:
        # Key Missing, pair afresh) or kept it.
        bonded = 1 << link | 0x04 | 0x08
        out.append(Seed(f"{role}_bond_key_missing", NO_IO | BOND, NO_IO | SC | BOND, link,
                        store=bonded, reconnect=True))
        out.append(Seed(f"{role}_bond_kept", NO_IO | BOND, NO_IO | SC | BOND, link,
                        store=bonded | 0x40, reconnect=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in seeds():
        (args.out / f"seed_{seed.name}").write_bytes(script(seed))


if __name__ == "__main__":
    main()
