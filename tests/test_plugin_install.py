"""pytest-mpbt installs from a plain copy of the source tree (no build/, no
.git, not editable) into a fresh virtual environment, and pytest there, in
an empty folder, lists the board options."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns('build', '.git', '__pycache__', '*.egg-info',
                                    'mpbt-artifacts', '.pytest_cache')
INSTALL_TIMEOUT_S = 540


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 60)
def test_pip_install_from_a_plain_copy_registers_the_plugin(tmp_path: Path) -> None:
    source = tmp_path / 'source'
    shutil.copytree(REPO, source, ignore=NOT_SOURCE, symlinks=True)
    assert not (source / 'build').exists()
    env_dir = tmp_path / 'venv'
    venv.create(env_dir, with_pip=True)
    python = env_dir / 'bin' / 'python'
    install = subprocess.run(
        [str(python), '-m', 'pip', 'install', '-q', '--disable-pip-version-check', str(source)],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    empty = tmp_path / 'empty'
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTEST_', 'PYTHONPATH'))}
    shown = subprocess.run([str(python), '-m', 'pytest', '--help'], capture_output=True,
                           text=True, timeout=120, cwd=empty, env=env)
    assert shown.returncode == 0, shown.stderr
    for option in ('--board=PORT', '--board-kind', '--boards=N', '--board-build=DIR'):
        assert option in shown.stdout
    where = subprocess.run(
        [str(python), '-c', 'import pytest_mpbt, pytest_mpbt.radio.rig; '
                            'print(pytest_mpbt.__version__, pytest_mpbt.__file__)'],
        capture_output=True, text=True, timeout=60, cwd=empty, env=env)
    version, path = where.stdout.split()
    assert version == '0.1.0'
    assert Path(path).is_relative_to(env_dir), f'imported from {path}, not the installed copy'
    assert sys.executable != str(python)
