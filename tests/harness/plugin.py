"""pytest plugin: options, lazily started board rigs, per-test fixtures,
failure artifacts and the API coverage table.

Nothing starts at import or collection time: the first test that asks for a
board starts that kind's rig (radio + two boards), which is then reused for
the whole session.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_names import EVENTS, METHODS
from tools.boards import BoardStartError, Rig, REPO_ROOT

from tools.radio import ControllerInfo, Radio

from .board import Board
from .peer import HciPeer

BOARD_FIXTURES = {'board_kind', 'boards', 'central', 'peripheral'}
SPARE_CONTROLLERS = 3  # raw HCI peers on the radio, for tests that need a third device
VIRTUAL_KINDS = ('unix', 'qemu')
REAL_KIND = 'real'
DEFAULT_TEST_TIMEOUT_S = 180
ARTIFACTS_DIR = REPO_ROOT / 'build' / 'test-artifacts'
COVERAGE_JSON = REPO_ROOT / 'build' / 'api-coverage.json'


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup('boards', 'MicroPython bluetooth boards')
    group.addoption('--board', action='append', default=[], metavar='PORT',
                    help='serial port of a real board running our firmware (repeat for '
                         'two); without it, virtual boards are started')
    group.addoption('--board-kind', choices=('unix', 'qemu', 'all'), default='all',
                    help='which virtual boards the two-board tests run on (default all)')
    group.addoption('--keep-captures', action='store_true',
                    help='keep btsnoop captures of passing tests too')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'api(methods=[...], events=[...]): the bluetooth '
                                       'API names a test covers')
    config.pluginmanager.register(ApiCoverage(config), 'mpbt-api-coverage')


def board_kinds(config: pytest.Config) -> list[str]:
    if config.getoption('--board'):
        return [REAL_KIND]
    option = config.getoption('--board-kind')
    return list(VIRTUAL_KINDS) if option == 'all' else [option]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if BOARD_FIXTURES & set(metafunc.fixturenames):
        metafunc.parametrize('board_kind', board_kinds(metafunc.config), scope='session')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers('api'):
            methods, events = _marker_names(marker)
            unknown = [m for m in methods if m not in METHODS] + \
                      [e for e in events if e not in EVENTS]
            if unknown:
                raise pytest.UsageError(f'{item.nodeid}: unknown API names in api marker: {unknown}')
        if item.get_closest_marker('timeout') is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT_S))


def _marker_names(marker: pytest.Mark) -> tuple[list[str], list[str]]:
    return list(marker.kwargs.get('methods', [])), list(marker.kwargs.get('events', []))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f'mpbt_report_{report.when}', report)


# -- rigs ------------------------------------------------------------------------
@dataclasses.dataclass
class RigHandle:
    kind: str
    boards: list[Board]
    rig: Rig | None  # None for real boards


class RigPool:
    """Starts one rig per board kind on first use; remembers failures."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.handles: dict[str, RigHandle] = {}
        self.failures: dict[str, str] = {}

    def get(self, kind: str) -> RigHandle:
        if kind in self.failures:
            pytest.fail(self.failures[kind], pytrace=False)
        if kind not in self.handles:
            try:
                self.handles[kind] = self._start(kind)
            except (BoardStartError, OSError, AssertionError) as error:
                self.failures[kind] = f'could not start the {kind} boards: {error}'
                pytest.fail(self.failures[kind], pytrace=False)
        return self.handles[kind]

    def _start(self, kind: str) -> RigHandle:
        if kind == REAL_KIND:
            ports = self.config.getoption('--board')
            boards = [Board(port, kind=REAL_KIND, name=f'board{i}') for i, port in enumerate(ports)]
            return RigHandle(kind, boards, None)
        rig = Rig([kind, kind], spare=SPARE_CONTROLLERS).start()
        boards = [Board(b.port, kind=kind, name=f'{kind}{b.index}',
                        address=b.controller.address_bytes, controller=b.index)
                  for b in rig.boards]
        return RigHandle(kind, boards, rig)

    def power_cycle(self, kind: str, index: int) -> Board:
        """Restart virtual board `index` of `kind` as a power cycle would (its
        process ends; a new one starts on the same flash image and
        controller); the rig's Board for it is replaced and returned."""
        handle = self.get(kind)
        if handle.rig is None:
            pytest.skip('a power cycle needs a virtual board: the harness cannot switch '
                        'the power of a board given with --board')
        old = handle.boards[index]
        old.close()
        process = handle.rig.power_cycle(index)
        board = Board(process.port, kind=kind, name=old.name, address=old.address,
                      controller=old.controller)
        handle.boards[index] = board
        return board

    def close(self) -> None:
        for handle in self.handles.values():
            for board in handle.boards:
                board.close()
            if handle.rig is not None:
                handle.rig.close()
        self.handles.clear()


@pytest.fixture(scope='session')
def rig_pool(request: pytest.FixtureRequest) -> Iterator[RigPool]:
    pool = RigPool(request.config)
    yield pool
    pool.close()


@pytest.fixture
def boards(board_kind: str, rig_pool: RigPool,
           request: pytest.FixtureRequest) -> Iterator[tuple[Board, Board]]:
    """Two soft-reset boards on one radio; captures and logs kept on failure."""
    handle = rig_pool.get(board_kind)
    if len(handle.boards) < 2:
        pytest.fail(f'two boards are needed, got {len(handle.boards)} (--board PORT twice)',
                    pytrace=False)
    if handle.rig is not None:
        dead = [b for b in handle.rig.boards if not b.alive]
        if dead:
            pytest.fail(f'{board_kind} board {dead[0].index} has exited:\n{dead[0].output()}',
                        pytrace=False)
    for board in handle.boards:
        board.output.clear()
        board.soft_reset()
    artifacts = ARTIFACTS_DIR / _safe_name(request.node.nodeid)
    shutil.rmtree(artifacts, ignore_errors=True)
    radio = handle.rig.radio if handle.rig is not None else None
    if radio is not None:
        radio.start_captures(artifacts)
    pair = (handle.boards[0], handle.boards[1])
    yield pair
    if radio is not None:
        radio.stop_captures()
    failed = any(getattr(getattr(request.node, f'mpbt_report_{when}', None), 'failed', False)
                 for when in ('setup', 'call'))
    # A test that passed must not have lost IRQ events in the recorder
    # unknowingly; a test that floods it installs its own handler instead.
    # The rig's boards now: a test may have power-cycled one (a new Board).
    lost = [] if failed else recorder_drops((handle.boards[0], handle.boards[1]))
    if failed or lost:
        artifacts.mkdir(parents=True, exist_ok=True)
        text = '\n\n'.join(board.report() for board in pair)
        (artifacts / 'boards.log').write_text(text)
        for board in (handle.rig.boards if handle.rig is not None else []):
            (artifacts / f'board{board.index}-process.log').write_text(board.output())
        print(text)
        print(f'\nartifacts (btsnoop captures, logs): {artifacts}')
    elif not request.config.getoption('--keep-captures'):
        shutil.rmtree(artifacts, ignore_errors=True)
    if lost:
        pytest.fail('; '.join(lost), pytrace=False)


def recorder_drops(boards: tuple[Board, Board]) -> list[str]:
    """What each board's IRQ recorder dropped (its queue was full), as messages."""
    lost: list[str] = []
    for board in boards:
        # A test that soft-reset the board itself (mpremote) left no recorder.
        dropped = board.eval('_mpbt_rec.dropped if "_mpbt_rec" in globals() else 0')
        if dropped:
            lost.append(f'{board.name}: the IRQ recorder dropped {dropped} events (its queue '
                        f'holds {board.eval("_mpbt_rec.LIMIT")}); take events more often, or '
                        f'install a handler of its own for a flood')
    return lost


@pytest.fixture
def radio(board_kind: str, rig_pool: RigPool, boards: tuple[Board, Board]) -> Radio:
    """The virtual radio under the boards (its connections, its controllers)."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None or handle.rig.radio is None:
        pytest.skip('needs the virtual radio (real boards have no test-side view of the air)')
    return handle.rig.radio


@pytest.fixture
def hci_peers(board_kind: str, rig_pool: RigPool,
              boards: tuple[Board, Board]) -> Iterator[list[HciPeer]]:
    """Raw HCI hosts on the rig's spare controllers, reset for this test."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None:
        pytest.skip('needs spare controllers on the virtual radio')
    peers: list[HciPeer] = []
    try:
        for info in handle.rig.spares:
            peers.append(HciPeer(info))
        yield peers
    finally:
        for peer in peers:
            peer.close()


@pytest.fixture
def spare_controller(board_kind: str, rig_pool: RigPool,
                     boards: tuple[Board, Board]) -> ControllerInfo:
    """The rig's first spare controller, for a test-side bumble peer."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None or not handle.rig.spares:
        pytest.skip('needs a spare controller on the virtual radio')
    return handle.rig.spares[0]


@pytest.fixture
def central(boards: tuple[Board, Board]) -> Board:
    return boards[0]


@pytest.fixture
def peripheral(boards: tuple[Board, Board]) -> Board:
    return boards[1]


def _safe_name(nodeid: str) -> str:
    return ''.join(c if c.isalnum() or c in '-_.[]' else '_' for c in nodeid)


# -- API coverage ------------------------------------------------------------------
class ApiCoverage:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.methods: dict[str, set[str]] = {name: set() for name in METHODS}
        self.events: dict[str, set[str]] = {name: set() for name in EVENTS}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        if report.when != 'call' or not report.passed:
            return
        callspec = getattr(item, 'callspec', None)
        kind = callspec.params.get('board_kind') if callspec is not None else None
        if kind is None:
            return
        for marker in item.iter_markers('api'):
            methods, events = _marker_names(marker)
            for name in methods:
                self.methods[name].add(kind)
            for name in events:
                self.events[name].add(kind)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        kinds = board_kinds(self.config)
        write = terminalreporter.write_line
        terminalreporter.section('bluetooth API coverage (passing tests per board kind)')
        width = max(len(n) for n in [*METHODS, *EVENTS]) + 2
        write(' ' * width + ''.join(f'{k:>7}' for k in kinds))
        for title, table in (('methods', self.methods), ('events', self.events)):
            write(f'{title}:')
            for name, covered in table.items():
                write(f'{name:<{width}}' + ''.join(
                    f'{"yes" if k in covered else "-":>7}' for k in kinds))
        counts = {k: (sum(k in c for c in self.methods.values()),
                      sum(k in c for c in self.events.values())) for k in kinds}
        for kind, (m, e) in counts.items():
            write(f'{kind}: {m}/{len(METHODS)} methods, {e}/{len(EVENTS)} events covered')
        COVERAGE_JSON.parent.mkdir(parents=True, exist_ok=True)
        COVERAGE_JSON.write_text(json.dumps({
            'methods': {n: sorted(k) for n, k in self.methods.items()},
            'events': {n: sorted(k) for n, k in self.events.items()},
        }, indent=1) + '\n')
        write(f'written {COVERAGE_JSON}')
