# Frozen into both virtual boards: MicroPython's own asyncio (from the
# MicroPython source built against) and the filesystem mount at start-up.
include("$(MPY_DIR)/extmod/asyncio")
freeze("$(PORT_DIR)/../common", "_boot.py")
