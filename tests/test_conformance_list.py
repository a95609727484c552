"""tests/conformance.txt (what `make conformance` expects of each of MicroPython's
multi_bluetooth tests) is well formed and lists exactly the tests of the source
we build against; the verdict rules of tools/conformance.py. No boards needed."""
from __future__ import annotations

from pathlib import Path

import pytest

from tools.boards import REPO_ROOT
from tools.conformance import LIST_FILE, ListError, Result, available_tests, parse_list

SOURCES = sorted((REPO_ROOT / 'build' / 'deps').glob('micropython-*/tests/run-multitests.py'))


@pytest.fixture
def micropython() -> Path:
    if not SOURCES:
        pytest.fail('no MicroPython source under build/deps: run `make micropython`',
                    pytrace=False)
    return SOURCES[-1].parent.parent


def test_list_names_every_test_of_the_source_once(micropython: Path) -> None:
    available = available_tests(micropython)
    entries = parse_list(LIST_FILE, available)
    assert sorted(e.name for e in entries) == available
    must_pass = {e.name for e in entries if 'pass' in e.expect.values()}
    assert 'ble_gap_connect' in must_pass


@pytest.mark.parametrize('text, message', [
    ('ble_a pass\n', 'expected'),
    ('ble_a pass pass\n', 'expected'),
    ('ble_a pass pass maybe\n', 'unknown expectation'),
    ('ble_a pending pass pass\n', 'needs a reason'),
    ('ble_a pass pass pass\nble_a pass pass pass\n', 'listed twice'),
    ('ble_zzz pass pass pass\n', 'not a test'),
    ('# only a comment\n', 'not listed'),
])
def test_malformed_lists_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / 'list.txt'
    path.write_text(text)
    with pytest.raises(ListError, match=message):
        parse_list(path, ['ble_a'])


def test_reason_keeps_its_spaces(tmp_path: Path) -> None:
    path = tmp_path / 'list.txt'
    path.write_text('ble_a  pending  n/a  pass  needs GATT: issue 4 in progress\n')
    (entry,) = parse_list(path, ['ble_a'])
    assert entry.expect == {'unix': 'pending', 'qemu': 'n/a', 'stock-unix': 'pass',
                            'mixed': 'n/a'}
    assert entry.reason == 'needs GATT: issue 4 in progress'


@pytest.mark.parametrize('unix, qemu, mixed', [
    ('pass', 'pass', 'pass'),
    ('pass', 'pending', 'pending'),
    ('later', 'pending', 'later'),
    ('pending', 'n/a', 'n/a'),
])
def test_a_mixed_pair_gets_the_weaker_expectation(tmp_path: Path, unix: str, qemu: str,
                                                   mixed: str) -> None:
    path = tmp_path / 'list.txt'
    path.write_text(f'ble_a {unix} {qemu} pass some reason\n')
    (entry,) = parse_list(path, ['ble_a'])
    assert entry.expect['mixed'] == mixed


@pytest.mark.parametrize('expect, outcome, verdict, bad', [
    ('pass', 'pass', 'PASS', False),
    ('pass', 'FAIL', 'FAIL', True),
    ('pass', 'skip', 'FAIL', True),       # a skipped must-pass test is not a pass
    ('pass', 'TIMEOUT', 'FAIL', True),
    ('pending', 'FAIL', 'XFAIL', False),
    ('pending', 'pass', 'XPASS', False),
    ('later', 'not run', 'LATER', False),
    ('n/a', 'not run', 'N/A', False),
])
def test_verdicts(expect: str, outcome: str, verdict: str, bad: bool) -> None:
    result = Result('unix', 'ble_a', expect, outcome, 1.0)
    assert (result.verdict, result.bad) == (verdict, bad)
