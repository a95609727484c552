"""The `api` marker: which bluetooth API names a test covers; a table of the
names covered by passing tests per board kind, and the same as JSON.

Workers (xdist) attach what a passing test covered to its report; the
process that prints the summary (the controller, or the only process)
collects it from the reports, so the table is whole under xdist too."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .api_names import EVENTS, METHODS

REPORT_ATTR = 'mpbt_api'


def marker_names(marker: pytest.Mark) -> tuple[list[str], list[str]]:
    return list(marker.kwargs.get('methods', [])), list(marker.kwargs.get('events', []))


def check_markers(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers('api'):
            methods, events = marker_names(marker)
            unknown = [m for m in methods if m not in METHODS] + \
                      [e for e in events if e not in EVENTS]
            if unknown:
                raise pytest.UsageError(f'{item.nodeid}: unknown API names in api marker: {unknown}')


def covered_by(item: pytest.Item) -> dict[str, object] | None:
    """What a board test covers, for its report; None for other tests."""
    callspec = getattr(item, 'callspec', None)
    kind = callspec.params.get('board_kind') if callspec is not None else None
    if kind is None:
        return None
    methods: list[str] = []
    events: list[str] = []
    for marker in item.iter_markers('api'):
        more_methods, more_events = marker_names(marker)
        methods += more_methods
        events += more_events
    return {'kind': kind, 'methods': methods, 'events': events}


class ApiCoverage:
    def __init__(self, kinds: tuple[str, ...], json_path: Path) -> None:
        self.kinds = kinds
        self.json_path = json_path
        self.board_tests = 0
        self.methods: dict[str, set[str]] = {name: set() for name in METHODS}
        self.events: dict[str, set[str]] = {name: set() for name in EVENTS}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        covered = getattr(report, REPORT_ATTR, None)
        if report.when != 'call' or not isinstance(covered, dict):
            return
        self.board_tests += 1
        if not report.passed:
            return
        kind = str(covered['kind'])
        for name in covered['methods']:  # type: ignore[attr-defined]
            self.methods.setdefault(name, set()).add(kind)
        for name in covered['events']:  # type: ignore[attr-defined]
            self.events.setdefault(name, set()).add(kind)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.board_tests:
            return
        kinds = self.kinds
        write = terminalreporter.write_line
        terminalreporter.section('bluetooth API coverage (passing tests per board kind)')
        width = max(len(n) for n in [*METHODS, *EVENTS]) + 2
        write(' ' * width + ''.join(f'{k:>7}' for k in kinds))
        for title, table in (('methods', self.methods), ('events', self.events)):
            write(f'{title}:')
            for name, covered in table.items():
                write(f'{name:<{width}}' + ''.join(
                    f'{"yes" if k in covered else "-":>7}' for k in kinds))
        for kind in kinds:
            m = sum(kind in c for c in self.methods.values())
            e = sum(kind in c for c in self.events.values())
            write(f'{kind}: {m}/{len(METHODS)} methods, {e}/{len(EVENTS)} events covered')
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        self.json_path.write_text(json.dumps({
            'methods': {n: sorted(k) for n, k in self.methods.items()},
            'events': {n: sorted(k) for n, k in self.events.items()},
        }, indent=1) + '\n')
        write(f'written {self.json_path}')


def attach(item: pytest.Item, report: pytest.TestReport) -> None:
    if report.when == 'call':
        covered = covered_by(item)
        if covered is not None:
            setattr(report, REPORT_ATTR, covered)
