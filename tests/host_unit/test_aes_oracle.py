"""ah() of lib/blehost (via the test_addr unit-test binary) against bumble's
crypto module as an independent oracle, on the Core spec sample and on
random inputs."""
from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def test_addr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("host_unit_addr")
    result = subprocess.run(
        ["make", "-C", str(HERE), f"BUILD={build}", "addr"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build / "test_addr"


def host_ah(binary: Path, irk: bytes, prand: bytes) -> bytes:
    """irk and prand most significant octet first, as the Core spec writes them."""
    out = subprocess.run([str(binary), "ah", irk.hex(), prand.hex()],
                         capture_output=True, text=True, timeout=30, check=True)
    return bytes.fromhex(out.stdout.strip())


def bumble_ah(irk: bytes, prand: bytes) -> bytes:
    from bumble.crypto import ah
    # bumble takes and returns little-endian values.
    return ah(irk[::-1], prand[::-1])[::-1]


def test_ah_core_spec_sample(test_addr: Path) -> None:
    irk = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
    prand = bytes.fromhex("708194")
    assert bumble_ah(irk, prand) == bytes.fromhex("0dfbaa")
    assert host_ah(test_addr, irk, prand) == bytes.fromhex("0dfbaa")


def test_ah_random_against_bumble(test_addr: Path) -> None:
    for _ in range(20):
        irk = secrets.token_bytes(16)
        prand = bytes([0x40 | secrets.randbelow(64)]) + secrets.token_bytes(2)
        assert host_ah(test_addr, irk, prand) == bumble_ah(irk, prand), (irk.hex(), prand.hex())
