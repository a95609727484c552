"""Write the SMP fuzzer's seed scripts: one complete pairing per method and
role (legacy and Secure Connections, bonding with key distribution), a
re-encryption with the bond after a reconnect, and a bonded peer that lost
its key. The script format is described at the top of fuzz_smp.c.

With --findings, write instead the hand-made scripts of issue 15's defects
(issue15_*; fixed now, so kept in corpus/ as regression inputs and their
checks in the normal build: tests/fuzz/README.md).

    python3 tests/fuzz/seeds.py tests/fuzz/corpus
    python3 tests/fuzz/seeds.py --findings tests/fuzz/corpus
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
DELIVER, DELIVER_MUT, CONTROLLER, PASSKEY, TICK, PAIR, DISCONNECT, TEMPLATE, RESTART = (
    0, 1, 2, 4, 5, 7, 8, 11, 14)
REFLECT = 7  # DELIVER_MUT kind: our own value of that code sent back
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
    addr_key: int = 0  # the peer's header octet 3 or 6
    size_dist: int = KEYS_16_ENC_ID  # its octet 2 or 5


def drive(link: int, rounds: int) -> bytes:
    """Answer commands, passkey events and the peer's PDUs until done."""
    lb = LINK1 if link else 0
    one = bytes([CONTROLLER | POLL, PASSKEY | POLL | lb, 0, DELIVER | POLL | lb])
    return one * rounds


def script(seed: Seed) -> bytes:
    peers = [bytes([NO_IO, KEYS_16_ENC_ID, 0])] * 2
    peers[seed.link] = bytes([seed.peer, seed.size_dist, seed.addr_key])
    header = bytes([seed.ours]) + peers[0] + peers[1] + bytes([seed.store, 0, 0])
    lb = LINK1 if seed.link else 0
    body = bytes([RESTART | POLL | lb, 0]) + drive(seed.link, 48)
    if seed.reconnect:
        # The link drops and comes back; the central encrypts with the bond.
        body += bytes([DISCONNECT | POLL | lb, 0, TICK | POLL, 100])
        if seed.link:
            body += bytes([PAIR | POLL | lb])  # gap_pair: we encrypt
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
        # A stored SC bond (unauthenticated, so a Just Works pairing is not
        # weaker); the peer lost it (we are central: Key Missing, pair
        # afresh) or kept it.
        bonded = 1 << link | 0x08
        out.append(Seed(f"{role}_bond_key_missing", NO_IO | BOND, NO_IO | SC | BOND, link,
                        store=bonded, reconnect=True))
        out.append(Seed(f"{role}_bond_kept", NO_IO | BOND, NO_IO | SC | BOND, link,
                        store=bonded | 0x40, reconnect=True))
        # An authenticated SC bond: the Just Works pairing that would
        # replace it is refused with Authentication Requirements (0x03).
        out.append(Seed(f"{role}_bond_weaker_refused", NO_IO | BOND, NO_IO | SC | BOND, link,
                        store=bonded | 0x04, reconnect=True))
    return out


# Peer public keys (header bits 2-4 of octet 3/6).
KEY_OUR_X_OTHER_Y, KEY_OFF_CURVE, KEY_DEBUG = 5 << 2, 6 << 2, 3 << 2
ADDR_ZERO = 3


def findings() -> dict[str, bytes]:
    """Scripts that show issue 15's defects to the strict build."""
    out = {}
    # Item 3: a peer sends our X coordinate with the other Y: a different
    # point, so the exact-echo check passes and the pairing goes on.
    out["item3_our_x_other_y"] = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 1,
                                             addr_key=KEY_OUR_X_OTHER_Y))
    # Item 15: a key off the curve, and the Core's debug key, go to the
    # controller for a DHKey.
    out["item15_off_curve"] = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 0,
                                          addr_key=KEY_OFF_CURVE))
    out["item15_debug_key"] = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 0,
                                          addr_key=KEY_DEBUG))
    # Item 13: a peer whose identity address is 00:00:00:00:00:00 is bonded.
    out["item13_zero_identity"] = script(Seed("", NO_IO | BOND, NO_IO | BOND, 0,
                                              addr_key=ADDR_ZERO))
    # Item 1: our authenticated SC bond, the peer answers Key Missing, a
    # Just Works pairing follows: its record still says authenticated.
    out["item1_auth_inherited"] = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 1,
                                              store=0x02 | 0x04 | 0x08))
    # Item 4: we are central in a legacy pairing; the peer sends back our
    # own Confirm, then our own Random: the check passes, the STK is used.
    header = bytes([NO_IO | BOND, NO_IO, KEYS_16_ENC_ID, 0, NO_IO | BOND, KEYS_16_ENC_ID, 0, 0, 0, 0])
    lb = LINK1 | POLL
    out["item4_reflected_confirm"] = header + bytes([
        RESTART | lb, 0,                    # Security Request
        DELIVER | lb,                       # -> our Pairing Request, its Response
        DELIVER | lb,                       # -> our Confirm
        DELIVER_MUT | lb, REFLECT, 0, 0,    # our Confirm back -> our Random
        DELIVER_MUT | lb, REFLECT, 0, 0,    # our Random back -> encryption
        CONTROLLER | POLL,
    ])
    # Item 2: we are peripheral with an authenticated SC bond (key size 16)
    # with this identity; a Just Works pairing, then one with a 7-octet key,
    # replaces it.
    out["item2_jw_replaces_auth_bond"] = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 0,
                                                     store=0x01 | 0x04 | 0x08))
    out["item2_shorter_key_replaces_bond"] = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 0,
                                                         store=0x01 | 0x08,
                                                         size_dist=7 | (0x03 << 5)))
    # Item 6: our passkey event's handler does active(False), active(True)
    # (it once ran while the peer's Pairing Request was being handled and
    # the Security Manager went on in the reset slot; handlers now run
    # after the host returns, as the binding runs them).
    reenter = 0x40
    out["item6_active_cycle_in_handler"] = bytes([
        DISPLAY_ONLY | MITM | BOND | reenter, KEYBOARD_ONLY | MITM | SC | BOND, KEYS_16_ENC_ID, 0,
        NO_IO, KEYS_16_ENC_ID, 0, 0, 0, 0,
        RESTART | POLL, 0,   # the peer's Pairing Request is due
        DELIVER | POLL, 5,   # delivered; the handler's choice: 5, active(False/True)
    ])
    # Item 11: a wrong passkey (the peer's Confirm altered) fails the
    # pairing; the peer reconnects from the same address and pairs at once.
    out["item11_retry_after_reconnect"] = bytes([
        DISPLAY_ONLY | MITM | BOND, KEYBOARD_ONLY | MITM | BOND, KEYS_16_ENC_ID, 0,
        NO_IO, KEYS_16_ENC_ID, 0, 0, 0, 0,
        RESTART | POLL, 0,
        DELIVER | POLL,              # Pairing Request: we show a passkey
        PASSKEY | POLL, 0,           # the application confirms it
        DELIVER_MUT | POLL, 0, 1, 1,  # the peer's Confirm, one bit flipped
        DELIVER | POLL,              # its Random: Confirm Value Failed
        DISCONNECT | POLL, 0,        # the link drops and comes back
        RESTART | POLL, 0,
        DELIVER | POLL,              # a new Pairing Request at once
    ])
    # Item 12: a Secure Connections attempt fails after the public keys; the
    # next attempt gets the same public key from us.
    sc = script(Seed("", NO_IO | BOND, NO_IO | SC | BOND, 0))[:10]
    out["item12_same_key_next_attempt"] = sc + bytes([
        RESTART | POLL, 0,
        DELIVER | POLL,              # Pairing Request
        CONTROLLER | POLL,           # our P-256 key
        DELIVER | POLL,              # the peer's key: ours goes out
        TEMPLATE | POLL, 0x05, 0x07,  # the peer's Pairing Failed (Unspecified)
        RESTART | POLL, 0,
        DELIVER | POLL,              # Pairing Request again
        CONTROLLER | POLL, CONTROLLER | POLL,
        DELIVER | POLL,              # the peer's key: ours goes out again
    ])
    # Item 14: the peer's Pairing Failed with reason 0x00 mid-pairing.
    out["item14_failed_reason_0"] = script(Seed("", NO_IO | BOND, NO_IO | BOND, 0))[:13] + bytes([
        DELIVER | POLL, TEMPLATE | POLL, 0x05, 0xff])  # Pairing Failed, reason 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--findings", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.findings:
        for name, data in findings().items():
            (args.out / f"issue15_{name}").write_bytes(data)
        return
    for seed in seeds():
        (args.out / f"seed_{seed.name}").write_bytes(script(seed))


if __name__ == "__main__":
    main()
