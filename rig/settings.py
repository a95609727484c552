"""The plugin's options, and what they resolve to in one pytest process."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from .rigfile import BoardSpec, Group, RigFileError, load_rig_file

VIRTUAL_KINDS = ('unix', 'qemu')
REAL_KIND = 'real'  # board_kind of real boards, whatever their group's kind says
BUILD_ENV = 'MPBT_BOARD_BUILD'
RIG_FILE_ENV = 'MPBT_RIG_FILE'
DEFAULT_SPARES = 3


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup('boards', 'MicroPython bluetooth boards (pytest-mpbt)')
    group.addoption('--board', action='append', default=[], metavar='PORT',
                    help='serial port of a real board (repeat, one per board); with it no '
                         'virtual board or radio is started')
    group.addoption('--board-kind', choices=(*VIRTUAL_KINDS, 'all'), default='all',
                    help='virtual boards to run the board tests on: unix, qemu or all '
                         '(default all: each test once per kind)')
    group.addoption('--boards', type=int, default=2, metavar='N',
                    help='virtual boards per group, all on one virtual radio (default 2)')
    group.addoption('--board-build', metavar='DIR',
                    help='folder holding unix/micropython and qemu/firmware.elf for virtual '
                         f'boards (default ${BUILD_ENV}, else build/ in the project: the '
                         'rootdir of an ini file, else the current folder); $MPBOARD_UNIX '
                         'and $MPBOARD_QEMU name single binaries instead')
    group.addoption('--rig-file', metavar='TOML',
                    help='groups of real boards (ports, kind, reset method); '
                         f'default ${RIG_FILE_ENV}')
    group.addoption('--rig-group', metavar='NAME',
                    help='the rig file group to use without xdist (default: the first)')
    group.addoption('--spare-controllers', type=int, default=DEFAULT_SPARES, metavar='N',
                    help='extra controllers on each virtual radio for test-side hosts '
                         f'(default {DEFAULT_SPARES})')
    group.addoption('--board-artifacts', metavar='DIR',
                    help='where failing tests leave their logs and btsnoop captures (default: '
                         'mpbt-artifacts/ next to --junitxml, else in the project folder)')
    group.addoption('--keep-captures', action='store_true',
                    help='keep btsnoop captures of passing tests too')
    group.addoption('--api-coverage-json', metavar='FILE',
                    help='where the API coverage table is written as JSON '
                         '(default BOARD_ARTIFACTS/api-coverage.json)')


@dataclasses.dataclass(frozen=True)
class Settings:
    real: tuple[BoardSpec, ...]  # this process's real boards; empty: virtual boards
    kinds: tuple[str, ...]  # the board_kind values tests are run with
    count: int
    build: Path
    spares: int
    artifacts: Path
    keep_captures: bool
    coverage_json: Path


def worker_index(config: pytest.Config) -> int | None:
    """This xdist worker's number (gw3 -> 3), None outside xdist."""
    workerinput = getattr(config, 'workerinput', None)
    if workerinput is None:
        return None
    return int(workerinput['workerid'].removeprefix('gw'))


def worker_count(config: pytest.Config) -> int:
    """How many xdist workers this run has (1 without xdist)."""
    workerinput = getattr(config, 'workerinput', None)
    if workerinput is not None:
        return int(workerinput['workercount'])
    numprocesses = getattr(config.option, 'numprocesses', None)
    dist = getattr(config.option, 'dist', 'no')
    return int(numprocesses) if numprocesses and dist != 'no' else 1


def real_groups(config: pytest.Config) -> list[Group]:
    ports = config.getoption('--board')
    rig_file = config.getoption('--rig-file') or os.environ.get(RIG_FILE_ENV)
    if ports and rig_file:
        raise pytest.UsageError('give --board or a rig file, not both')
    if ports:
        return [Group('--board', tuple(BoardSpec(p) for p in ports))]
    if not rig_file:
        return []
    try:
        groups = load_rig_file(Path(rig_file))
    except RigFileError as error:
        raise pytest.UsageError(str(error)) from error
    wanted = config.getoption('--rig-group')
    if wanted:
        groups = [g for g in groups if g.name == wanted]
        if not groups:
            raise pytest.UsageError(f'{rig_file}: no group {wanted!r}')
    return groups


def resolve(config: pytest.Config) -> Settings:
    groups = real_groups(config)
    real: tuple[BoardSpec, ...] = ()
    if groups:
        workers = worker_count(config)
        if workers > len(groups):
            raise pytest.UsageError(
                f'{workers} xdist workers but {len(groups)} group(s) of real boards: each '
                'worker needs a group of its own (list more groups in the rig file, or use '
                'fewer workers)')
        real = groups[worker_index(config) or 0].boards
    option = config.getoption('--board-kind')
    kinds = (REAL_KIND,) if groups else VIRTUAL_KINDS if option == 'all' else (option,)
    build = config.getoption('--board-build') or os.environ.get(BUILD_ENV)
    # The project's folder: the rootdir when an ini file fixed it, else where
    # pytest was started (pytest finds the rootdir before it knows the
    # plugin's options, so a lone `--board /dev/ttyACM0` can move it to /dev).
    project = config.rootpath if config.inipath else config.invocation_params.dir
    artifacts = config.getoption('--board-artifacts')
    if artifacts is None:
        junit = config.getoption('--junitxml', None) if _has_junit(config) else None
        base = Path(junit).resolve().parent if junit else project
        artifacts = base / 'mpbt-artifacts'
    artifacts = Path(artifacts).resolve()
    coverage = config.getoption('--api-coverage-json')
    if config.getoption('--boards') < 1:
        raise pytest.UsageError('--boards must be at least 1')
    return Settings(
        real=real, kinds=kinds, count=config.getoption('--boards'),
        build=Path(build).resolve() if build else project / 'build',
        spares=config.getoption('--spare-controllers'), artifacts=artifacts,
        keep_captures=config.getoption('--keep-captures'),
        coverage_json=Path(coverage).resolve() if coverage else artifacts / 'api-coverage.json')


def _has_junit(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin('junitxml')
