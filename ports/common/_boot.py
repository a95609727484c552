# Frozen into both virtual boards, run at every start before boot.py:
# mounts the board's flash at / with littlefs v2, making a fresh filesystem
# when the flash holds none (a new or wiped image).
import vfs
from _board import Flash

try:
    _bdev = Flash()
except OSError:
    _bdev = None  # no storage given to this board: no filesystem
if _bdev is not None:
    try:
        vfs.mount(vfs.VfsLfs2(_bdev), "/")
    except OSError:
        vfs.VfsLfs2.mkfs(_bdev)
        vfs.mount(vfs.VfsLfs2(_bdev), "/")
del vfs, Flash, _bdev
