# Entry points a user types. See README.md.
#   make demo   install what is missing, build both boards, show two boards on a virtual radio
#   make test   build what is needed and run the whole test suite on virtual boards
#   make repl   a REPL on a virtual unix board, with a second board on the same radio
#   make bench  GAP, GATT and L2CAP benchmarks (latency, scan results/s, code size,
#               notification, write and channel throughput against the air's bound on
#               the current and the old 27-octet radio, write round trip, static RAM)
#   make conformance  MicroPython's own multi_bluetooth tests, unchanged, on two boards
#               of each kind; tests/conformance.txt says which must pass (make test runs it)

BUILD ?= build
BUILD_ABS := $(abspath $(BUILD))
PYTHON := $(BUILD_ABS)/venv/bin/python
KIND ?= unix
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# MicroPython to build against: Debian's source package of this version,
# SHA-256 pinned in tools/fetch_micropython.sh (1.25.0 or 1.26.1). Builds of
# the default version go to $(BUILD)/unix..., others to $(BUILD)/mp-VERSION/.
# `make test` runs everything on the default and conformance on the other.
MICROPY_VERSION ?= 1.25.0
MICROPY_VERSION_OTHER := 1.26.1
ifeq ($(MICROPY_VERSION),1.25.0)
OUT := $(BUILD_ABS)
else
OUT := $(BUILD_ABS)/mp-$(MICROPY_VERSION)
endif

# MICROPY_DIR=/path/to/micropython overrides the pinned, fetched source.
ifdef MICROPY_DIR
MICROPY_DIR_CMD = echo $(abspath $(MICROPY_DIR))
else
MICROPY_DIR_CMD = tools/fetch_micropython.sh $(BUILD) $(MICROPY_VERSION)
endif

PORT_MAKE = mp=$$($(MICROPY_DIR_CMD)) && $(MAKE) --no-print-directory -j$(JOBS) MICROPY_DIR="$$mp"

.PHONY: all deps micropython unix unix-san qemu stock-unix boards demo repl test conformance \
	conformance-stock conformance-unpaced bench clean

all: boards

deps:
	@tools/install_deps.sh $(BUILD)

micropython: deps
	@$(MICROPY_DIR_CMD)

# The unix board: plain build (demo, repl) and ASan/UBSan build (tests).
unix: micropython
	@$(PORT_MAKE) -C ports/unix BUILD=$(OUT)/unix

unix-san: micropython
	@$(PORT_MAKE) -C ports/unix BUILD=$(OUT)/unix-san SANITIZE=1

qemu: micropython
	@$(PORT_MAKE) -C ports/qemu BUILD=$(OUT)/qemu

# MicroPython's own unix port, unmodified, with our module as a user C module
# and its own Bluetooth off (README "Real boards"). Off too: what Debian's
# source package leaves out (mbedtls, berkeley-db) or needs more packages
# (libffi), and frozen micropython-lib (not in the source package either).
STOCK_UNIX_FLAGS = USER_C_MODULES=$(CURDIR)/extmod MICROPY_PY_BLUETOOTH=0 FROZEN_MANIFEST= \
	MICROPY_PY_FFI=0 MICROPY_PY_SSL=0 MICROPY_PY_BTREE=0
stock-unix: micropython
	@mp=$$($(MICROPY_DIR_CMD)) && $(MAKE) --no-print-directory -j$(JOBS) -C "$$mp/ports/unix" \
	    BUILD=$(OUT)/stock-unix $(STOCK_UNIX_FLAGS)

boards: unix qemu

demo: unix qemu
	$(PYTHON) -m tools.demo --build $(BUILD_ABS)

repl: unix
	$(PYTHON) -m tools.boards repl --kind $(KIND) --build $(BUILD_ABS)

test: unix-san qemu
	MPBOARD_UNIX=$(BUILD_ABS)/unix-san/micropython $(PYTHON) -m pytest tests $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory conformance
	@$(MAKE) --no-print-directory conformance-stock CONFORMANCE_ARGS=--must-pass-only
	@$(MAKE) --no-print-directory conformance MICROPY_VERSION=$(MICROPY_VERSION_OTHER) \
	    CONFORMANCE_ARGS=--must-pass-only
	@$(MAKE) --no-print-directory conformance-stock MICROPY_VERSION=$(MICROPY_VERSION_OTHER) \
	    CONFORMANCE_ARGS=--must-pass-only
	@$(MAKE) --no-print-directory conformance-unpaced

# perf_gatt_char_write 20 times in a row on each kind with the radio's air
# pacing off: writes arrive faster than any real link delivers them, so a
# handler that reads the value late would see a later write's value.
conformance-unpaced: unix-san qemu
	mp=$$($(MICROPY_DIR_CMD)) && MPBOARD_UNIX=$(OUT)/unix-san/micropython \
	    MPBOARD_QEMU=$(OUT)/qemu/firmware.elf $(PYTHON) -m tools.conformance \
	    --build $(OUT) --micropython "$$mp" --out $(OUT)/conformance-unpaced \
	    --no-air-pacing --repeat 20 perf_gatt_char_write

# CONFORMANCE_ARGS: e.g. --kind unix, --must-pass-only, --diff, test names.
conformance: unix-san qemu
	mp=$$($(MICROPY_DIR_CMD)) && MPBOARD_UNIX=$(OUT)/unix-san/micropython \
	    MPBOARD_QEMU=$(OUT)/qemu/firmware.elf $(PYTHON) -m tools.conformance \
	    --build $(OUT) --micropython "$$mp" --out $(OUT)/conformance $(CONFORMANCE_ARGS)

# The same tests on two processes of MicroPython's own unix port with our module.
conformance-stock: stock-unix
	mp=$$($(MICROPY_DIR_CMD)) && $(PYTHON) -m tools.conformance --kind stock-unix \
	    --build $(OUT) --micropython "$$mp" --out $(OUT)/conformance $(CONFORMANCE_ARGS)

bench: unix qemu
	$(PYTHON) -m tools.bench --build $(BUILD_ABS) --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_gatt --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_board --build $(BUILD_ABS) --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_ram --build $(BUILD_ABS) --knobs
	$(PYTHON) -m tools.bench_cost --unix-binary $(BUILD_ABS)/unix/micropython \
	    --results $(BUILD_ABS)/bench-cost.json

clean:
	rm -rf $(BUILD)/unix $(BUILD)/unix-san $(BUILD)/qemu $(BUILD)/stock-unix $(BUILD)/mp-*
