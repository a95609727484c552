"""The Security Manager under libFuzzer for a bounded time (no boards needed).

Builds the fuzzer into a temporary folder, checks that each seed of the
committed corpus still drives a pairing (or its refusal) to the end (else
the fuzzer would silently lose its depth), then fuzzes for
FUZZ_TEST_SECONDS (45) from the corpus (and findings/, the reproducers of
open defects, when there are any): any crash, sanitizer report, harness
expectation, hang or out-of-memory fails the test. `make fuzz` runs longer.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FUZZ_SECONDS = int(os.environ.get("FUZZ_TEST_SECONDS", "45"))


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("fuzz_build")
    result = subprocess.run(
        ["make", "-C", str(HERE), f"BUILD={build}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build / "fuzz_smp"


def trace(fuzzer: Path, script: Path) -> list[str]:
    env = dict(os.environ, FUZZ_TRACE="1")
    # -detect_leaks=0: libFuzzer runs an input a second time when it saw
    # more mallocs than frees (stdio's buffer for the trace), and the trace
    # would then hold both runs.
    result = subprocess.run([str(fuzzer), "-detect_leaks=0", str(script)], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_seeds_complete_a_pairing(fuzzer: Path) -> None:
    # seed_<role>_<legacy|sc>_<method>: one pairing that must succeed, as the
    # trace's event line shows: "enc HANDLE encrypted authenticated bonded
    # key_size status_lo status_hi".
    seeds = sorted(p for p in CORPUS.glob("seed_*_*") if "_legacy_" in p.name or "_sc_" in p.name)
    assert len(seeds) >= 16
    for seed in seeds:
        events = [line.split() for line in trace(fuzzer, seed) if line.startswith("enc ")]
        done = [e for e in events if e[2] == "01" and e[6:8] == ["00", "00"]]
        assert done, f"{seed.name}: no successful pairing in {events}"
        # Passkey and numeric comparison methods are authenticated.
        if "_pk_" in seed.name or "_nc" in seed.name:
            assert done[0][3] == "01", f"{seed.name}: {done[0]}"
        else:
            assert done[0][3] == "00", f"{seed.name}: {done[0]}"


def test_bond_seeds(fuzzer: Path) -> None:
    # seed_<role>_bond_*: a stored SC bond the peer kept, or lost (a fresh
    # Just Works pairing replaces it), succeeds twice (pairing or
    # re-encryption, then re-encryption after a reconnect); over an
    # authenticated bond the Just Works pairing is refused with
    # Authentication Requirements (0x03) and nothing is bonded.
    for role in ("periph", "central"):
        for kind in ("kept", "key_missing", "weaker_refused"):
            seed = CORPUS / f"seed_{role}_bond_{kind}"
            events = [line.split() for line in trace(fuzzer, seed) if line.startswith("enc ")]
            assert len(events) == 2, f"{seed.name}: {events}"
            for e in events:
                if kind == "weaker_refused":
                    assert e[2:8] == ["00", "00", "00", "00", "03", "00"], f"{seed.name}: {e}"
                else:
                    assert e[2] == "01" and e[4] == "01" and e[6:8] == ["00", "00"], f"{seed.name}: {e}"


# The fuzzing time, plus the build (a loaded machine) and the wrap-up.
@pytest.mark.timeout(FUZZ_SECONDS + 240)
def test_fuzz_bounded(fuzzer: Path, tmp_path: Path) -> None:
    seconds = FUZZ_SECONDS
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_run.py"), "--binary", str(fuzzer),
         "--seconds", str(seconds), "--corpus", str(CORPUS), "--corpus", str(HERE / "findings"),
         "--work", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=seconds + 180,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "crashes 0" in result.stdout, result.stdout
