"""pytest-mpbt's pytest plugin (registered through the pytest11 entry point):
options, the board fixtures, failure artifacts and the API coverage table.

Nothing starts at import or collection time: the first test that asks for a
board starts that kind's group (virtual: a radio and its boards), which is
then reused for the whole session of this process. Under xdist every
worker is such a process, with its own radio and boards or its own group
of real boards.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import coverage
from .artifacts import PROPERTY, TestArtifacts, folder_for
from .board import Board
from .pool import RigHandle, RigPool
from .radio import ControllerInfo, Radio
from .settings import Settings, add_options, resolve

BOARD_FIXTURES = {'board_kind', 'boards', 'central', 'peripheral'}
DEFAULT_TEST_TIMEOUT_S = 180
SETTINGS_KEY = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'api(methods=[...], events=[...]): the bluetooth '
                                       'API names a test covers')
    if config.option.help:
        return
    settings = resolve(config)
    config.stash[SETTINGS_KEY] = settings
    if not hasattr(config, 'workerinput'):  # the process that prints the summary
        config.pluginmanager.register(
            coverage.ApiCoverage(settings.kinds, settings.coverage_json), 'mpbt-api-coverage')


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if BOARD_FIXTURES & set(metafunc.fixturenames):
        metafunc.parametrize('board_kind', settings_of(metafunc.config).kinds, scope='session')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    coverage.check_markers(items)
    for item in items:
        if item.get_closest_marker('timeout') is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT_S))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f'mpbt_report_{report.when}', report)
    coverage.attach(item, report)


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope='session')
def rig_pool(request: pytest.FixtureRequest) -> Iterator[RigPool]:
    """This process's groups of boards (one per board kind)."""
    pool = RigPool(settings_of(request.config))
    yield pool
    pool.close()


def _ready(pool: RigPool, kind: str) -> RigHandle:
    """The group of `kind` with every board alive and soft-reset; a virtual
    group with a dead or silent board is replaced by a fresh one (once)."""
    handle = pool.get(kind)
    dead = handle.dead()
    if dead:
        handle = pool.restart(kind, dead[0])
    try:
        _soft_reset_all(handle)
    except AssertionError as error:
        if handle.rig is None:
            raise
        handle = pool.restart(kind, f'a board did not take a soft reset: {error}')
        _soft_reset_all(handle)
    return handle


def _soft_reset_all(handle: RigHandle) -> None:
    for board in handle.boards:
        board.output.clear()
        board.soft_reset()


@pytest.fixture
def boards(board_kind: str, rig_pool: RigPool,
           request: pytest.FixtureRequest) -> Iterator[tuple[Board, ...]]:
    """The group's boards (two unless --boards says otherwise), soft-reset,
    on one radio; on failure their output, events and captures are kept."""
    handle = _ready(rig_pool, board_kind)
    if len(handle.boards) < 2 and {'central', 'peripheral'} & set(request.fixturenames):
        pytest.fail(f'two boards are needed, got {len(handle.boards)}', pytrace=False)
    settings = rig_pool.settings
    radio = handle.rig.radio if handle.rig is not None else None
    artifacts = TestArtifacts(folder_for(settings.artifacts, request.node.nodeid), radio)
    try:
        yield tuple(handle.boards)
    finally:
        artifacts.stop()
    failed = any(getattr(getattr(request.node, f'mpbt_report_{when}', None), 'failed', False)
                 for when in ('setup', 'call'))
    # The group's boards now: a test may have power-cycled one (a new Board).
    lost = [] if failed or handle.dead() else recorder_drops(handle.boards)
    if failed or lost:
        for path in artifacts.keep(handle.boards, handle.rig):
            request.node.user_properties.append((PROPERTY, str(path)))
        print('\n\n'.join(board.report() for board in handle.boards))
        print(f'\nartifacts (btsnoop captures, logs): {artifacts.folder}')
    elif not settings.keep_captures:
        artifacts.discard()
    if lost:
        pytest.fail('; '.join(lost), pytrace=False)


def recorder_drops(boards: list[Board]) -> list[str]:
    """What each board's IRQ recorder dropped (its queue was full), as messages.
    A test that passed must not have lost events unknowingly; a test that
    floods the recorder installs a handler of its own instead."""
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
def central(boards: tuple[Board, ...]) -> Board:
    return boards[0]


@pytest.fixture
def peripheral(boards: tuple[Board, ...]) -> Board:
    return boards[1]


@pytest.fixture
def radio(board_kind: str, rig_pool: RigPool, boards: tuple[Board, ...]) -> Radio:
    """The virtual radio under the boards (its connections, its controllers)."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None or handle.rig.radio is None:
        pytest.skip('needs the virtual radio (real boards have no test-side view of the air)')
    return handle.rig.radio


@pytest.fixture
def spare_controller(board_kind: str, rig_pool: RigPool,
                     boards: tuple[Board, ...]) -> ControllerInfo:
    """The group's first spare controller on the virtual radio, for a test-side host."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None or not handle.rig.spares:
        pytest.skip('needs a spare controller on the virtual radio')
    return handle.rig.spares[0]
