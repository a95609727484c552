"""The SMP crypto toolbox of lib/blehost (via the test_smp_crypto unit-test
binary) against bumble's crypto module as an independent oracle, on random
inputs: AES-CMAC of every message length 0..80, c1, s1, f4, f5, f6, g2, h6
and h7.

Both sides take Bluetooth values least significant octet first; an address
goes to the binary as its 6 octets (HCI order) followed by its type octet,
which is bumble's A1/A2 form for f5 and f6."""
from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROUNDS = 12


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("host_unit_smp_crypto")
    result = subprocess.run(
        ["make", "-C", str(HERE), f"BUILD={build}", "smp_crypto"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build / "test_smp_crypto"


def host(binary: Path, func: str, *args: bytes) -> str:
    out = subprocess.run([str(binary), func, *(a.hex() for a in args)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def rand(n: int) -> bytes:
    return secrets.token_bytes(n)


def address() -> tuple[bytes, int]:
    return rand(6), secrets.randbelow(2)


def test_cmac_every_length(binary: Path) -> None:
    from bumble.crypto import aes_cmac
    for length in range(81):
        key, msg = rand(16), rand(length)
        assert host(binary, "cmac", key, msg) == aes_cmac(msg, key).hex(), (length, key.hex(), msg.hex())


def test_c1_s1(binary: Path) -> None:
    from bumble.crypto import c1, s1
    for _ in range(ROUNDS):
        k, r, preq, pres = rand(16), rand(16), rand(7), rand(7)
        (ia, iat), (ra, rat) = address(), address()
        expected = c1(k, r, preq, pres, iat, rat, ia, ra).hex()
        assert host(binary, "c1", k, r, preq, pres, ia + bytes([iat]), ra + bytes([rat])) == expected
        r1, r2 = rand(16), rand(16)
        assert host(binary, "s1", k, r1, r2) == s1(k, r1, r2).hex()


def test_f4_g2(binary: Path) -> None:
    from bumble.crypto import f4, g2
    for i in range(ROUNDS):
        u, v, x, y = rand(32), rand(32), rand(16), rand(16)
        z = bytes([(0, 0x80, 0x81)[i % 3]])
        assert host(binary, "f4", u, v, x, z) == f4(u, v, x, z).hex()
        assert int(host(binary, "g2", u, v, x, y), 16) == g2(u, v, x, y)


def test_f5_f6(binary: Path) -> None:
    from bumble.crypto import f5, f6
    for _ in range(ROUNDS):
        w, n1, n2, r, iocap = rand(32), rand(16), rand(16), rand(16), rand(3)
        (a1, t1), (a2, t2) = address(), address()
        a1 += bytes([t1])
        a2 += bytes([t2])
        mackey, ltk = f5(w, n1, n2, a1, a2)
        assert host(binary, "f5", w, n1, n2, a1, a2) == f"{mackey.hex()} {ltk.hex()}"
        assert host(binary, "f6", mackey, n1, n2, r, iocap, a1, a2) == \
            f6(mackey, n1, n2, r, iocap, a1, a2).hex()


def test_h6_h7(binary: Path) -> None:
    from bumble.crypto import h6, h7
    for _ in range(ROUNDS):
        w, salt, key_id = rand(16), rand(16), rand(4)
        assert host(binary, "h6", w, key_id) == h6(w, key_id).hex()
        # bumble's h7 alone takes SALT most significant octet first.
        assert host(binary, "h7", salt, w) == h7(salt[::-1], w).hex()
