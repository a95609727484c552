"""MicroPython's own two-instance Bluetooth tests against our virtual boards.

    python -m tools.conformance [--kind unix|qemu|all] [--micropython DIR] [TEST ...]

Runs the tests of `tests/multi_bluetooth/` of the MicroPython source we build
against, unchanged, with that source's own runner (`tests/run-multitests.py
-i pyb:<pty> -i pyb:<pty> <test>`), on two virtual boards of each kind (a Rig
from tools.boards: one radio, two boards). One runner process per test, so
each test has its own time limit and its own verdict. With --jobs N, N
runners work at once, each on rigs of its own (its own radio and boards).

What is expected of each test is the explicit list tests/conformance.txt:
`pass` tests must pass (anything else makes the exit status 1), `pending`
tests are run and reported (FAIL as expected, a pass as XPASS), `later` and
`n/a` tests are listed with their reason and not run.

The rig is reused while tests pass (the runner soft-resets the boards before
each test); after any other result it is restarted so one failure cannot
spill into the next test. Every process started is killed on exit.
Per-test output (runner output, diff against the .exp, and on failure the
boards' process logs and the radio's btsnoop captures) goes to
build/conformance/<kind>/, the verdicts to build/conformance/results-<--kind>.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools.boards import KINDS, REPO_ROOT, BoardStartError, Rig, kill_group, raise_on_sigterm

LIST_FILE = REPO_ROOT / 'tests' / 'conformance.txt'
TEST_SUBDIR = Path('tests') / 'multi_bluetooth'
RUNNER = Path('tests') / 'run-multitests.py'
DEFAULT_TIMEOUT_S = 120.0
EXPECTATIONS = ('pass', 'pending', 'later', 'n/a')
RUN_EXPECTATIONS = ('pass', 'pending')
MIXED = 'mixed'  # a unix board and a qemu board on one radio (instance0 on unix)
# MicroPython's own unix port built with our module as a user C module: two
# processes run by the runner itself (`-i exec:BINARY,MICROPY_BLE_HCI=...`),
# each on its own controller of the radio.
STOCK = 'stock-unix'
LIST_KINDS = (*KINDS, STOCK)  # the expectation columns of the list
SUMMARY_LINES = re.compile(r'^\d+ tests performed$', re.M)
RESULT_LINE = re.compile(r'^(\S+\.py) on \S+: ?(pass|FAIL|skip)\s*$', re.M)


@dataclasses.dataclass
class Entry:
    name: str
    expect: dict[str, str]  # kind -> one of EXPECTATIONS
    reason: str


@dataclasses.dataclass
class Result:
    kind: str
    name: str
    expect: str
    outcome: str  # pass, FAIL, skip, TIMEOUT, ERROR, or 'not run'
    seconds: float
    detail: str = ''  # the runner's diff, or why the run broke
    metrics: list[str] = dataclasses.field(default_factory=list)  # multitest.output_metric()

    @property
    def verdict(self) -> str:
        """PASS / FAIL for must-pass tests; XFAIL / XPASS for pending ones; the
        expectation in capitals for tests not run."""
        if self.expect not in RUN_EXPECTATIONS:
            return self.expect.upper()
        if self.expect == 'pass':
            return 'PASS' if self.outcome == 'pass' else 'FAIL'
        return 'XPASS' if self.outcome == 'pass' else 'XFAIL'

    @property
    def bad(self) -> bool:
        return self.expect == 'pass' and self.outcome != 'pass'


class ListError(ValueError):
    """tests/conformance.txt is malformed or does not match the test folder."""


def parse_list(path: Path, available: list[str]) -> list[Entry]:
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        fields = line.split(None, len(LIST_KINDS) + 1)
        if len(fields) < 1 + len(LIST_KINDS):
            raise ListError(f'{path}:{number}: expected "name {" ".join(LIST_KINDS)} [reason]"')
        name, expects = fields[0], fields[1:1 + len(LIST_KINDS)]
        reason = fields[1 + len(LIST_KINDS)] if len(fields) > 1 + len(LIST_KINDS) else ''
        bad = [e for e in expects if e not in EXPECTATIONS]
        if bad:
            raise ListError(f'{path}:{number}: unknown expectation {bad[0]!r} '
                            f'(one of {", ".join(EXPECTATIONS)})')
        if any(e != 'pass' for e in expects) and not reason:
            raise ListError(f'{path}:{number}: {name}: a test not expected to pass needs a reason')
        if name in seen:
            raise ListError(f'{path}:{number}: {name} listed twice')
        if name not in available:
            raise ListError(f'{path}:{number}: {name} is not a test in {TEST_SUBDIR}')
        seen.add(name)
        expect = dict(zip(LIST_KINDS, expects))
        expect[MIXED] = _mixed_expectation(expects[:len(KINDS)])
        entries.append(Entry(name, expect, reason))
    missing = sorted(set(available) - seen)
    if missing:
        raise ListError(f'{path}: tests not listed (add each with its expectation): '
                        f'{", ".join(missing)}')
    return entries


def _mixed_expectation(expects: list[str]) -> str:
    """A mixed pair is held to the weakest expectation of its two kinds."""
    for weakest in ('n/a', 'later', 'pending'):
        if weakest in expects:
            return weakest
    return 'pass'


def available_tests(micropython: Path) -> list[str]:
    folder = micropython / TEST_SUBDIR
    if not (micropython / RUNNER).is_file() or not folder.is_dir():
        raise ListError(f'{micropython} has no {RUNNER} and {TEST_SUBDIR}/: '
                        'not a MicroPython source tree')
    return sorted(p.stem for p in folder.glob('*.py'))


class RunCounter:
    """Runs per (kind, test) so far, shared by the jobs (--repeat names each run's log)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], int] = {}

    def next(self, kind: str, name: str) -> int:
        with self._lock:
            self._runs[kind, name] = self._runs.get((kind, name), 0) + 1
            return self._runs[kind, name]


class KindRun:
    """Runs tests of one board kind on a rig of two boards of that kind (one
    job's rig: jobs never share boards)."""

    def __init__(self, kind: str, args: argparse.Namespace, runs: RunCounter) -> None:
        self.kind = kind
        self.args = args
        self.rig: Rig | None = None
        self.out_dir: Path = args.out / kind
        self.runs = runs
        self.runner: subprocess.Popen[str] | None = None  # the runner now running

    def stop_runner(self) -> None:
        runner = self.runner
        if runner is not None:
            kill_group(runner)

    def close_rig(self) -> None:
        if self.rig is not None:
            self.rig.close()
            self.rig = None

    def ensure_rig(self) -> Rig:
        if self.rig is None:
            if self.kind == STOCK:
                # No boards of ours: two controllers for the runner's processes.
                self.rig = Rig([], build=self.args.build, spare=2,
                               air_pacing=not self.args.no_air_pacing).start()
            else:
                kinds = list(KINDS) if self.kind == MIXED else [self.kind, self.kind]
                self.rig = Rig(kinds, build=self.args.build, unix_binary=self.args.unix_binary,
                               air_pacing=not self.args.no_air_pacing).start()
        return self.rig

    def run(self, entry: Entry) -> Result:
        expect = entry.expect[self.kind]
        if expect not in RUN_EXPECTATIONS:
            return Result(self.kind, entry.name, expect, 'not run', 0.0, entry.reason)
        started = time.monotonic()
        run = self.runs.next(self.kind, entry.name)
        run_tag = f'.{run}' if run > 1 else ''
        log_path = self.out_dir / f'{entry.name}{run_tag}.log'
        try:
            rig = self.ensure_rig()
        except BoardStartError as error:
            self.close_rig()
            result = Result(self.kind, entry.name, expect, 'ERROR', time.monotonic() - started,
                            f'could not start the boards: {error}')
            log_path.write_text(result.detail + '\n')
            return result
        assert rig.radio is not None
        captures = self.out_dir / f'{entry.name}{run_tag}.captures'
        rig.radio.start_captures(captures)
        try:
            outcome, output, detail = self._run_runner(rig, entry.name)
        finally:
            rig.radio.stop_captures()
        metrics = re.findall(rf'^\S*{re.escape(entry.name)}\.py: (.*)$', output, re.M)
        dead = [b for b in rig.boards if not b.alive]
        if dead:
            outcome = 'ERROR'
            detail = (f'{dead[0].kind} board {dead[0].index} exited with code '
                      f'{dead[0].process.returncode} during the test\n' + detail)
        text = output
        if outcome != 'pass':
            for board in rig.boards:
                text += f'\n### {board.kind} board {board.index} process log ###\n{board.output()}'
        log_path.write_text(text)
        if outcome == 'pass' and not self.args.keep_captures:
            shutil.rmtree(captures, ignore_errors=True)
        if outcome != 'pass':
            self.close_rig()  # a fresh radio and fresh boards for the next test
        return Result(self.kind, entry.name, expect, outcome, time.monotonic() - started, detail,
                      metrics)

    def _run_runner(self, rig: Rig, name: str) -> tuple[str, str, str]:
        # Run from the source's tests/ folder with relative paths, as MicroPython does.
        command = [sys.executable, RUNNER.name]
        for board in rig.boards:
            command += ['-i', f'pyb:{board.port}']
        for spare in rig.spares:
            host_port = spare.client_spec.removeprefix('tcp-client:')
            command += ['-i', f'exec:{self.args.stock_unix_binary},MICROPY_BLE_HCI=tcp:{host_port}']
        command.append(str(TEST_SUBDIR.relative_to('tests') / f'{name}.py'))
        process = subprocess.Popen(
            command, cwd=self.args.micropython / 'tests', stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors='replace',
            env=dict(os.environ, PYTHONUNBUFFERED='1'), start_new_session=True)
        self.runner = process
        try:
            output, _ = process.communicate(timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            output = process.stdout.read() if process.stdout else ''
            return ('TIMEOUT', output,
                    f'no verdict within {self.args.timeout:.0f} s (runner killed)')
        finally:
            kill_group(process)
            self.runner = None
        match = RESULT_LINE.search(output)
        if match is None:
            return ('ERROR', output,
                    f'runner exited with code {process.returncode} without a verdict:\n'
                    + output[-2000:])
        outcome = match.group(2)
        detail = ''
        if outcome != 'pass':
            diff = output.split('### DIFF ###', 1)
            detail = diff[1] if len(diff) == 2 else output[match.end():]
            detail = SUMMARY_LINES.split(detail, 1)[0].strip('\n')
        return outcome, output, detail


def print_table(results: list[Result], entries: list[Entry], kinds: list[str]) -> None:
    by_key = {(r.kind, r.name): r for r in results}
    width = max(len(e.name) for e in entries) + 2
    print()
    print('MicroPython multi_bluetooth tests on our boards')
    cell = 20
    print(f'{"test":<{width}}' + ''.join(f'{k:<{cell}}' for k in kinds) + 'reason')
    for entry in entries:
        cells = []
        for kind in kinds:
            result = by_key.get((kind, entry.name))
            if result is None:
                cells.append('-')
            elif result.expect in RUN_EXPECTATIONS:
                extra = '' if result.outcome in ('pass', 'FAIL') else f' {result.outcome}'
                cells.append(f'{result.verdict}{extra} {result.seconds:.0f}s')
            else:
                cells.append(result.verdict)
        shown_reason = entry.reason if any(entry.expect[k] != 'pass' for k in kinds) else ''
        print(f'{entry.name:<{width}}' + ''.join(f'{c:<{cell - 1}} ' for c in cells)
              + shown_reason)
    for kind in kinds:
        mine = [r for r in results if r.kind == kind]
        counts: dict[str, int] = {}
        for result in mine:
            counts[result.verdict] = counts.get(result.verdict, 0) + 1
        summary = ', '.join(f'{n} {v}' for v, n in sorted(counts.items()))
        print(f'{kind}: {summary}; {sum(r.seconds for r in mine):.0f} s')


def run_jobs(work: list[tuple[str, Entry]], args: argparse.Namespace) -> list[Result]:
    """Run the work in order on args.jobs threads; each thread keeps its own
    rig per kind, closed when the work is done (or on Ctrl-C/SIGTERM)."""
    todo: queue.Queue[tuple[str, Entry]] = queue.Queue()
    for item in work:
        todo.put(item)
    results: list[Result] = []
    lock = threading.Lock()
    stop = threading.Event()
    runs = RunCounter()
    every_run: list[KindRun] = []

    def job() -> None:
        mine: dict[str, KindRun] = {}
        try:
            while not stop.is_set():
                try:
                    kind, entry = todo.get_nowait()
                except queue.Empty:
                    return
                if kind not in mine:
                    mine[kind] = KindRun(kind, args, runs)
                    with lock:
                        every_run.append(mine[kind])
                run = mine[kind]
                result = run.run(entry)
                with lock:
                    results.append(result)
                    report(result, args)
        finally:
            for run in mine.values():
                run.close_rig()

    threads = [threading.Thread(target=job, daemon=True) for _ in range(max(1, args.jobs))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        with lock:
            for run in every_run:
                run.stop_runner()
        raise
    return results


def report(result: Result, args: argparse.Namespace) -> None:
    if result.expect not in RUN_EXPECTATIONS:
        return
    print(f'{result.kind:5} {result.name:30} {result.verdict:6} {result.outcome:8} '
          f'{result.seconds:5.1f}s', flush=True)
    for metric in result.metrics:
        print(f'    metric: {metric}', flush=True)
    if args.diff and result.verdict == 'XFAIL':
        print('    ' + result.detail.replace('\n', '\n    '), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tools.conformance',
        description="MicroPython's multi_bluetooth tests, unchanged, on two virtual boards.")
    parser.add_argument('--kind', choices=[*KINDS, MIXED, STOCK, 'all'], default='all',
                        help='board pair: two unix, two qemu, one of each (mixed: held to '
                             'the weaker expectation of the two), two processes of '
                             "MicroPython's own unix port with our module (stock-unix), "
                             'or all = unix and qemu')
    parser.add_argument('--stock-unix-binary', type=Path,
                        help='stock unix port binary (default BUILD/stock-unix/micropython)')
    parser.add_argument('--micropython', type=Path,
                        help='MicroPython source tree (default: the one under BUILD/deps)')
    parser.add_argument('--build', type=Path, default=REPO_ROOT / 'build')
    parser.add_argument('--unix-binary', type=Path,
                        help='unix board binary (default: $MPBOARD_UNIX or BUILD/unix/micropython)')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT_S,
                        help=f'seconds per test before the runner is killed '
                             f'(default {DEFAULT_TIMEOUT_S:.0f})')
    parser.add_argument('--list', type=Path, default=LIST_FILE,
                        help='expectations file (default tests/conformance.txt)')
    parser.add_argument('--out', type=Path, help='output folder (default BUILD/conformance)')
    parser.add_argument('--must-pass-only', action='store_true',
                        help='run only the tests listed as pass (pending ones are listed, not run)')
    parser.add_argument('--keep-captures', action='store_true',
                        help='keep btsnoop captures of passing tests too')
    parser.add_argument('--diff', action='store_true',
                        help='print the diff of pending tests that fail, too')
    parser.add_argument('--no-air-pacing', action='store_true',
                        help='the radio delivers data at once instead of at LE 1M air speed '
                             '(faster than any real link: shakes out ordering assumptions)')
    parser.add_argument('--repeat', type=int, default=1, metavar='N',
                        help='run each selected test N times in a row (each run must pass)')
    parser.add_argument('--jobs', type=int, default=1, metavar='N',
                        help='run N tests at once, each job on rigs of its own (default 1)')
    parser.add_argument('tests', nargs='*', help='run only these tests (names without .py)')
    args = parser.parse_args(argv)
    args.build = args.build.resolve()
    args.stock_unix_binary = (args.stock_unix_binary
                              or args.build / 'stock-unix' / 'micropython').resolve()
    if args.micropython is None:
        found = sorted(args.build.glob('deps/micropython-*/tests/run-multitests.py'))
        if not found:
            parser.error('no MicroPython source under BUILD/deps: run `make micropython` '
                         'or pass --micropython')
        args.micropython = found[-1].parent.parent
    args.micropython = args.micropython.resolve()
    args.out = (args.out or args.build / 'conformance').resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        entries = parse_list(args.list, available_tests(args.micropython))
    except (ListError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    unknown = [t for t in args.tests if t not in {e.name for e in entries}]
    if unknown:
        print(f'error: unknown tests: {", ".join(unknown)}', file=sys.stderr)
        return 2
    selected = [e for e in entries if not args.tests or e.name in args.tests]
    if args.must_pass_only:
        selected = [dataclasses.replace(e, expect={
            k: (v if v == 'pass' else 'later' if v == 'pending' else v)
            for k, v in e.expect.items()}) if 'pending' in e.expect.values() else e
            for e in selected]
    kinds = list(KINDS) if args.kind == 'all' else [args.kind]
    raise_on_sigterm()
    started = time.monotonic()
    print(f'MicroPython source: {args.micropython}; output: {args.out}', flush=True)
    for kind in kinds:
        shutil.rmtree(args.out / kind, ignore_errors=True)
        (args.out / kind).mkdir(parents=True, exist_ok=True)
    work = [(kind, entry) for kind in kinds for entry in selected for _ in range(args.repeat)]
    try:
        results = run_jobs(work, args)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    order = {key: i for i, key in enumerate(dict.fromkeys((k, e.name) for k, e in work))}
    results.sort(key=lambda r: order[r.kind, r.name])
    print_table(results, selected, kinds)
    print(f'total {time.monotonic() - started:.0f} s; logs in {args.out}')
    (args.out / f'results-{args.kind}.json').write_text(json.dumps(
        [dataclasses.asdict(r) | {'verdict': r.verdict} for r in results], indent=1) + '\n')
    bad = [r for r in results if r.bad]
    xpass = [r for r in results if r.verdict == 'XPASS']
    for result in xpass:
        print(f'note: {result.name} now passes on {result.kind}: set it to pass in '
              f'{args.list.name}')
    if bad:
        print('FAILED (must pass): ' + ', '.join(f'{r.name} on {r.kind} ({r.outcome})'
                                               for r in bad))
        for result in bad:
            print(f'--- {result.name} on {result.kind}: {result.outcome} ---\n{result.detail}')
        return 1
    print('conformance: every must-pass test passed')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
