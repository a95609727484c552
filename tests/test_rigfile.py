"""Rig files (TOML): groups of real boards a lab lists once."""
from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mpbt import BoardSpec, Group, RigFileError, load_rig_file


def rig_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'rig.toml'
    path.write_text(text)
    return path


def test_groups_in_file_order_with_kind_and_reset(tmp_path: Path) -> None:
    path = rig_file(tmp_path, '''
[groups.b]
kind = "esp32"
reset = "dtr"
ports = ["/dev/ttyACM0", "/dev/ttyACM1"]

[groups.a]
ports = ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2"]
''')
    assert load_rig_file(path) == [
        Group('b', (BoardSpec('/dev/ttyACM0', 'esp32', 'dtr'),
                    BoardSpec('/dev/ttyACM1', 'esp32', 'dtr'))),
        Group('a', tuple(BoardSpec(f'/dev/ttyUSB{i}', 'real', 'machine') for i in range(3))),
    ]


@pytest.mark.parametrize('text, message', [
    ('ports = ["/dev/x"]', 'no [groups.NAME] table'),
    ('[groups.a]\nkind = "x"', 'ports must be a list'),
    ('[groups.a]\nports = []', 'ports must be a list'),
    ('[groups.a]\nports = ["/dev/x"]\nreset = "pin"', 'reset must be one of'),
    ('[groups.a]\nports = ["/dev/x"]\nspeed = 1', "unknown keys ['speed']"),
    ('[groups.a]\nports = ["/dev/x"]\n[groups.b]\nports = ["/dev/x"]',
     'ports in more than one place: /dev/x'),
    ('[groups.a\nports = 1', 'rig.toml'),
])
def test_unusable_files_say_why(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RigFileError, match=message.replace('[', r'\[').replace(']', r'\]')):
        load_rig_file(rig_file(tmp_path, text))
