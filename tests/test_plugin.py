"""The rig as a user installs it: the pytest-mpbt plugin run on a user's own
project (pytester: a temporary folder holding only the user's files) against
virtual boards, real-board stand-ins (--board), a rig file, and xdist."""
from __future__ import annotations

import json
import os
import shutil
import textwrap
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mpbt import btsnoop
from pytest_mpbt.plugin import settings_of
from pytest_mpbt.radio.rig import Rig

# Board-side helpers a user would write: only the plugin's public API.
USER_HELPERS = '''
import json, os
from pathlib import Path

ADV = b'\\x02\\x01\\x06\\x05\\x09user'


def up(board):
    board.exec('import bluetooth\\nble = bluetooth.BLE()\\nble.active(True)', timeout=20)
    board.attach_recorder('ble')


def advertised_and_seen(central, peripheral):
    up(central)
    up(peripheral)
    peripheral.exec(f'ble.gap_advertise(20000, {ADV!r})')
    addr = peripheral.eval('ble.config("mac")[1]')
    central.exec('ble.gap_scan(3000, 30000, 30000)')
    return central.wait_for_event('_IRQ_SCAN_RESULT', predicate=lambda e: e.data[1] == addr)


def note(name, **facts):
    """Leave facts for the outer test in NOTES_DIR (one JSON file per test)."""
    folder = Path(os.environ['NOTES_DIR'])
    folder.mkdir(exist_ok=True)
    (folder / f'{name}-{os.getpid()}.json').write_text(json.dumps(facts))
'''

SEEN_TEST = '''
from helpers import ADV, advertised_and_seen, note


def test_peripheral_is_seen_{n}(central, peripheral, board_kind):
    seen = advertised_and_seen(central, peripheral)
    assert ADV in seen.data[4]
    note('seen{n}', ports=[central.port, peripheral.port], kind=board_kind)
'''


@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An empty user project with the helpers above; NOTES_DIR for facts."""
    pytester.makepyfile(helpers=USER_HELPERS)
    monkeypatch.setenv('NOTES_DIR', str(tmp_path_factory.mktemp('notes')))
    return pytester


def notes() -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(Path(os.environ['NOTES_DIR']).glob('*.json'))]


def run(project: pytest.Pytester, request: pytest.FixtureRequest, *args: str,
        build: bool = True) -> pytest.RunResult:
    """pytest in a fresh process in the project (entry points as a user has them)."""
    base = ['-p', 'no:cacheprovider']
    if build:
        base.append(f'--board-build={settings_of(request.config).build}')
    return project.runpytest_subprocess(*base, *args, timeout=300)


def test_help_in_an_empty_folder_lists_the_board_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess('--help')
    assert result.ret == 0
    text = result.stdout.str()
    for option in ('--board=PORT', '--board-kind', '--boards=N', '--board-build=DIR',
                   'MPBT_BOARD_BUILD', '--rig-file', '--board-artifacts'):
        assert option in text, f'{option} not in pytest --help'


def test_user_project_two_board_test_on_virtual_boards(
        project: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    project.makepyfile(test_user=SEEN_TEST.format(n=0) + '''

def test_boards_fixture_gives_two_soft_reset_boards(boards):
    assert len(boards) == 2
    assert [b.eval('"_mpbt_rec" in globals()') for b in boards] == [True, True]
    assert boards[0].eval('6 * 7') == 42


def test_files_go_to_the_board_and_back(central, tmp_path):
    sent = tmp_path / 'sent.bin'
    sent.write_bytes(bytes(range(256)) * 5)
    central.put(sent, '/copied.bin')
    assert central.eval('__import__("os").stat("/copied.bin")[6]') == 1280
    central.get('/copied.bin', tmp_path / 'back.bin')
    assert (tmp_path / 'back.bin').read_bytes() == sent.read_bytes()
    central.exec('import os\\nos.remove("/copied.bin")')


def test_hard_reset_restarts_the_board(central):
    central.exec('import builtins\\nbuiltins._mark = 1')
    central.hard_reset()
    assert central.eval('hasattr(__import__("builtins"), "_mark")') is False
    assert central.eval('"_mpbt_rec" in globals()') is True


def test_started_script_and_event_log(central, peripheral):
    from helpers import advertised_and_seen
    central.start('import time\\nprint("begun")\\ntime.sleep_ms(300)\\nprint("ended")')
    assert 'begun' in central.wait_for_output('begun')
    assert central.join().split() == ['begun', 'ended']
    advertised_and_seen(central, peripheral)
    assert '_IRQ_SCAN_RESULT' in central.event_log()
''')
    result = run(project, request, '--board-kind', 'unix')
    result.assert_outcomes(passed=5)
    assert 'bluetooth API coverage' in result.stdout.str()
    assert (project.path / 'mpbt-artifacts' / 'api-coverage.json').is_file()


def test_boards_option_starts_that_many_boards_on_one_radio(
        project: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    project.makepyfile(test_many='''
from helpers import up


def test_every_board_scans_every_other(boards):
    assert len(boards) == 4
    for board in boards:
        up(board)
    for n, board in enumerate(boards):
        board.exec(f'ble.gap_advertise(20000, b"\\\\x02\\\\x01\\\\x06\\\\x04\\\\x09b{n}{n}")')
    macs = {board.eval('ble.config("mac")[1]') for board in boards}
    assert len(macs) == 4
    for board in boards:
        board.exec('ble.gap_scan(1500, 30000, 30000)')
        board.wait_for_event('_IRQ_SCAN_DONE', timeout=10)
        heard = {e.data[1] for e in board.take_events() if e.name == '_IRQ_SCAN_RESULT'}
        own = board.eval('ble.config("mac")[1]')
        assert heard >= macs - {own}
''')
    run(project, request, '--board-kind', 'unix', '--boards', '4').assert_outcomes(passed=1)


def test_failing_test_leaves_logs_events_and_captures_named_in_junit(
        project: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    project.makepyfile(test_fails='''
from helpers import advertised_and_seen


def test_wrong_expectation(central, peripheral):
    advertised_and_seen(central, peripheral)
    assert central.eval('1 + 1') == 3
''')
    result = run(project, request, '--board-kind', 'unix', '--junitxml', 'out/report.xml')
    result.assert_outcomes(failed=1)
    case = ElementTree.parse(project.path / 'out' / 'report.xml').find('.//testcase')
    assert case is not None
    files = [Path(p.get('value', '')) for p in case.iter('property')
             if p.get('name') == 'mpbt_artifact']
    names = {f.name for f in files}
    assert {'unix0-output.log', 'unix1-output.log', 'unix0-events.txt', 'unix1-events.txt',
            'board0-process.log', 'board1-process.log'} <= names, names
    assert all(f.is_file() and f.is_relative_to(project.path / 'out' / 'mpbt-artifacts')
               for f in files)
    events = (files[0].parent / 'unix0-events.txt').read_text()
    assert '_IRQ_SCAN_RESULT' in events
    assert '1 + 1' in (files[0].parent / 'unix0-output.log').read_text()
    captures = [f for f in files if f.suffix == '.btsnoop']
    assert len(captures) >= 2
    for capture in captures:
        assert btsnoop.read(capture).datalink == 1002
    # The central's controller saw its scan: commands sent, events received.
    central = btsnoop.read(files[0].parent / 'controller0.btsnoop').records
    assert any(not r.received and r.data[0] == 1 for r in central)
    assert any(r.received and r.data[0] == 4 for r in central)


def test_xdist_workers_each_have_their_own_radio_and_boards(
        project: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    for n in range(4):
        project.makepyfile(**{f'test_seen{n}': SEEN_TEST.format(n=n)})
    result = run(project, request, '--board-kind', 'unix', '-n', '2')
    result.assert_outcomes(passed=4)
    assert 'created: 2/2 workers' in result.stdout.str()  # xdist's own lines are shown
    by_process: dict[tuple[str, ...], int] = {}
    for facts in notes():
        ports = tuple(facts['ports'])  # type: ignore[arg-type]
        by_process[ports] = by_process.get(ports, 0) + 1
    assert len(by_process) == 2, f'expected two groups of boards, got {by_process}'
    first, second = by_process
    assert not set(first) & set(second), 'a board was shared between workers'


@pytest.fixture
def outside_boards(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """Four virtual boards on one radio started outside the plugin; their REPL
    ports stand in for real boards' serial ports."""
    with Rig(['unix'] * 4, build=settings_of(request.config).build) as rig:
        yield rig


REAL_TEST = '''
from helpers import ADV, advertised_and_seen, note


def test_given_boards_{n}(central, peripheral, board_kind, rig_pool, radio_or_none):
    assert board_kind == 'real'
    assert rig_pool.get('real').rig is None
    seen = advertised_and_seen(central, peripheral)
    assert ADV in seen.data[4]
    note('real{n}', ports=[central.port, peripheral.port], kinds=[central.kind, peripheral.kind])
'''

REAL_CONFTEST = '''
import pytest


@pytest.fixture
def radio_or_none(request):
    try:
        return request.getfixturevalue('radio')
    except pytest.skip.Exception:
        return None
'''


def test_board_option_drives_given_ports_without_starting_boards(
        project: pytest.Pytester, request: pytest.FixtureRequest, outside_boards: Rig) -> None:
    project.makeconftest(REAL_CONFTEST)
    project.makepyfile(test_real=REAL_TEST.format(n=0))
    ports = [b.port for b in outside_boards.boards[:2]]
    result = run(project, request, '--board', ports[0], '--board', ports[1], build=False)
    result.assert_outcomes(passed=1)
    assert notes()[0]['ports'] == ports


def test_rig_file_gives_each_xdist_worker_its_own_group(
        project: pytest.Pytester, request: pytest.FixtureRequest, outside_boards: Rig) -> None:
    ports = [b.port for b in outside_boards.boards]
    project.makefile('.toml', rig=textwrap.dedent(f'''
        [groups.bench-a]
        kind = "stand-in"
        ports = ["{ports[0]}", "{ports[1]}"]

        [groups.bench-b]
        kind = "stand-in"
        reset = "machine"
        ports = ["{ports[2]}", "{ports[3]}"]
        '''))
    project.makeconftest(REAL_CONFTEST)
    for n in range(4):
        project.makepyfile(**{f'test_real{n}': REAL_TEST.format(n=n)})
    result = run(project, request, '--rig-file', 'rig.toml', '-n', '2', build=False)
    result.assert_outcomes(passed=4)
    groups = {tuple(facts['ports']) for facts in notes()}  # type: ignore[arg-type]
    assert groups == {(ports[0], ports[1]), (ports[2], ports[3])}
    assert all(facts['kinds'] == ['stand-in', 'stand-in'] for facts in notes())
    # More workers than groups would share boards: refused before any test.
    refused = run(project, request, '--rig-file', 'rig.toml', '-n', '3', build=False)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert 'each worker needs a group of its own' in refused.stderr.str()


def test_a_board_killed_mid_test_fails_only_that_test(
        project: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    project.makepyfile(test_kill='''
from helpers import ADV, advertised_and_seen


def test_1_board_dies(board_kind, rig_pool, central, peripheral):
    rig_pool.get(board_kind).rig.boards[1].process.kill()
    peripheral.exec('print(1)', timeout=3)


def test_2_next_test_gets_a_fresh_board(central, peripheral):
    assert ADV in advertised_and_seen(central, peripheral).data[4]
''')
    result = run(project, request, '--board-kind', 'unix', '-v')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['*test_1_board_dies* FAILED*',
                                 '*test_2_next_test_gets_a_fresh_board* PASSED*'])


EXAMPLE = Path(__file__).resolve().parent.parent / 'examples' / 'rig-project'


def test_example_project_runs_on_two_workers(
        project: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    for path in EXAMPLE.iterdir():
        if path.is_file():
            shutil.copy(path, project.path / path.name)
    result = run(project, request, '--board-kind', 'unix', '-n', '2')
    result.assert_outcomes(passed=2)
    assert 'gap_pair' in result.stdout.str()  # the coverage table has the example's names
