"""Run the SMP fuzzer for a bounded time and print its figures: executions,
executions per second, coverage (edges and features), corpus growth and
crashes. Exit status 1 on any crash, sanitizer report, timeout or
out-of-memory (libFuzzer then writes the input to WORK/artifacts/).

New inputs go to WORK/corpus; the repository's corpus folders are only read.

    python3 tests/fuzz/fuzz_run.py --binary build/fuzz/fuzz_smp --seconds 600 \\
        --corpus tests/fuzz/corpus --corpus tests/fuzz/findings --work build/fuzz
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Longest script: a Secure Connections passkey pairing with mutations
# takes about 400 octets; room for several pairings and reconnects.
MAX_LEN = 4096
# One input runs in well under a millisecond; seconds mean a hang.
TIMEOUT_S = 10


@dataclass
class Figures:
    execs: int = 0
    execs_per_s: int = 0
    edges: int = 0
    features: int = 0
    corpus: int = 0
    new_units: int = 0
    crashes: list[str] | None = None


def parse(log: str) -> Figures:
    fig = Figures(crashes=[])
    status = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", log, re.M)
    if status:
        execs, edges, features, corpus = status[-1]
        fig.execs, fig.edges, fig.features, fig.corpus = int(execs), int(edges), int(features), int(corpus)
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", log, re.M))
    fig.execs = int(stats.get("number_of_executed_units", fig.execs))
    fig.execs_per_s = int(stats.get("average_exec_per_sec", 0))
    fig.new_units = int(stats.get("new_units_added", 0))
    fig.crashes = re.findall(r"Test unit written to (\S+)", log)
    return fig


def run(binary: Path, seconds: int, corpora: list[Path], work: Path) -> tuple[int, str, float]:
    new = work / "corpus"
    artifacts = work / "artifacts"
    new.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(binary),
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN}",
        f"-timeout={TIMEOUT_S}",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        str(new),
        # findings/ exists only while a defect reproducer is open.
        *(str(c) for c in corpora if c.is_dir()),
    ]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    elapsed = time.monotonic() - start
    log = result.stdout + result.stderr
    (work / "fuzz.log").write_text(log)
    return result.returncode, log, elapsed


def report(rc: int, log: str, elapsed: float) -> bool:
    fig = parse(log)
    ok = rc == 0 and not fig.crashes
    rate = fig.execs_per_s or int(fig.execs / max(elapsed, 1e-3))
    print(f"fuzz_smp: {fig.execs} executions in {elapsed:.0f} s, {rate} exec/s")
    print(f"fuzz_smp: coverage {fig.edges} edges, {fig.features} features; "
          f"corpus {fig.corpus} inputs ({fig.new_units} new)")
    print(f"fuzz_smp: crashes {len(fig.crashes)}" + "".join(f"\n  {c}" for c in fig.crashes))
    if not ok:
        # The sanitizer's or the harness's first words on it.
        for line in log.splitlines():
            if re.search(r"ERROR:|SUMMARY:|expectation failed|runtime error|deadly signal", line):
                print(f"  {line}")
        print(f"fuzz_smp: FAILED (exit status {rc})")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--corpus", type=Path, action="append", required=True,
                        help="a folder of inputs to start from (repeatable)")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    rc, log, elapsed = run(args.binary, args.seconds, args.corpus, args.work)
    sys.exit(0 if report(rc, log, elapsed) else 1)


if __name__ == "__main__":
    main()
