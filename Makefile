# Entry points a user types. See README.md.
#   make demo   install what is missing, build both boards, show two boards on a virtual radio
#   make test   build what is needed and run the whole test suite on virtual boards
#               (steps at once; TEST_WORKERS pytest-xdist workers, default 2 per core;
#               tests marked timing alone at the end)
#   make repl   a REPL on a virtual unix board, with a second board on the same radio
#   make bench  GAP, GATT and L2CAP benchmarks (latency, scan results/s, code size,
#               notification, write, indication and channel throughput against the
#               air's bound on the current and the old 27-octet radio, with and without
#               connection events, on both kinds, write round trip, static RAM and heap)
#   make conformance  MicroPython's own multi_bluetooth tests, unchanged, on two boards
#               of each kind; tests/conformance.txt says which must pass (make test runs it)
#   make fuzz   the Security Manager under libFuzzer for FUZZ_SECONDS (600); make test
#               runs it for 45 s (tests/fuzz/README.md)

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

.PHONY: all deps micropython unix unix-san qemu stock-unix boards demo repl test test-builds \
	conformance conformance-stock conformance-unpaced conformance-run conformance-stock-run \
	conformance-unpaced-run bench fuzz clean

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

# `make test` builds first (test-builds), then runs in three phases: the
# pytest suite alone on TEST_WORKERS xdist workers (each with its own radios
# and boards; `worksteal` evens out the long 30 s protocol-timeout tests);
# then the conformance runs (each on rigs of its own, CONFORMANCE_JOBS tests
# at once) and the example project through the installed plugin, TEST_SLOTS
# steps at a time; last, alone, the tests marked `timing` (they assert on
# wall-clock time within milliseconds). The tests mostly wait on virtual
# radios and boards, so more workers than cores keep the cores busy; but the
# conformance runs beside the pytest workers starve the qemu boards
# (MicroPython's own ble_l2cap gives a connection 1 s, and missed it under
# that load). Each step's output is shown whole when it ends.
NPROC := $(shell nproc 2>/dev/null || echo 2)
TEST_WORKERS ?= $(shell echo $$(( $(NPROC) * 2 )))
TEST_SLOTS ?= $(NPROC)
CONFORMANCE_JOBS ?= 2
MPBOARD_ENV = MPBOARD_UNIX=$(BUILD_ABS)/unix-san/micropython
PYTEST_RIG_ARGS = --board-build=$(BUILD_ABS) --board-artifacts=$(BUILD_ABS)/test-artifacts
TEST_STEPS = test-conformance-unpaced test-conformance test-conformance-other \
	test-conformance-stock test-conformance-stock-other test-conformance-no-events test-example
.PHONY: $(TEST_STEPS) test-pytest test-timing

test: test-builds
	@$(MAKE) --no-print-directory test-pytest
	@$(MAKE) --no-print-directory -j $(TEST_SLOTS) --output-sync=target $(TEST_STEPS)
	@$(MAKE) --no-print-directory test-timing

test-builds: unix-san qemu stock-unix
	@$(MAKE) --no-print-directory MICROPY_VERSION=$(MICROPY_VERSION_OTHER) unix-san qemu stock-unix

test-pytest:
	$(MPBOARD_ENV) $(PYTHON) -m pytest tests -m 'not timing' -n $(TEST_WORKERS) --dist worksteal \
	    $(PYTEST_RIG_ARGS) --api-coverage-json=$(BUILD_ABS)/api-coverage.json $(PYTEST_ARGS)

test-timing:
	$(MPBOARD_ENV) $(PYTHON) -m pytest tests -m timing $(PYTEST_RIG_ARGS) \
	    --api-coverage-json=$(BUILD_ABS)/api-coverage-timing.json $(PYTEST_ARGS)

# A user's project (README there), on unix boards, through the installed plugin.
test-example:
	cd examples/rig-project && $(MPBOARD_ENV) $(PYTHON) -m pytest -p no:cacheprovider \
	    --board-kind=unix --board-build=$(BUILD_ABS) \
	    --board-artifacts=$(BUILD_ABS)/example-artifacts

test-conformance:
	@$(MAKE) --no-print-directory conformance-run CONFORMANCE_ARGS="--jobs $(CONFORMANCE_JOBS)"
test-conformance-stock:
	@$(MAKE) --no-print-directory conformance-stock-run CONFORMANCE_ARGS=--must-pass-only
test-conformance-other:
	@$(MAKE) --no-print-directory conformance-run MICROPY_VERSION=$(MICROPY_VERSION_OTHER) \
	    CONFORMANCE_ARGS="--must-pass-only --jobs $(CONFORMANCE_JOBS)"
test-conformance-stock-other:
	@$(MAKE) --no-print-directory conformance-stock-run MICROPY_VERSION=$(MICROPY_VERSION_OTHER) \
	    CONFORMANCE_ARGS=--must-pass-only
test-conformance-unpaced:
	@$(MAKE) --no-print-directory conformance-unpaced-run
# The must-pass tests again with the radio's connection events off (data at
# any time, paced by air time only), as the radio modelled links before.
test-conformance-no-events:
	@RADIO_CONNECTION_EVENTS=0 $(MAKE) --no-print-directory conformance-run \
	    CONFORMANCE_OUT=conformance-no-events CONFORMANCE_ARGS="--must-pass-only --jobs $(CONFORMANCE_JOBS)"

# The conformance runs; each *-run target runs on what is built (make test
# builds first, then runs several at once: concurrent builds of one folder
# would race).
CONFORMANCE = mp=$$($(MICROPY_DIR_CMD)) && MPBOARD_UNIX=$(OUT)/unix-san/micropython \
	MPBOARD_QEMU=$(OUT)/qemu/firmware.elf $(PYTHON) -m tools.conformance \
	--build $(OUT) --micropython "$$mp"

# perf_gatt_char_write 20 times in a row on each kind with the radio's air
# pacing off: writes arrive faster than any real link delivers them, so a
# handler that reads the value late would see a later write's value.
conformance-unpaced: unix-san qemu
	@$(MAKE) --no-print-directory conformance-unpaced-run
conformance-unpaced-run:
	$(CONFORMANCE) --out $(OUT)/conformance-unpaced \
	    --no-air-pacing --repeat 20 --jobs $(CONFORMANCE_JOBS) perf_gatt_char_write

# CONFORMANCE_ARGS: e.g. --kind unix, --must-pass-only, --diff, --jobs N, test names.
conformance: unix-san qemu
	@$(MAKE) --no-print-directory conformance-run
CONFORMANCE_OUT ?= conformance
conformance-run:
	$(CONFORMANCE) --out $(OUT)/$(CONFORMANCE_OUT) $(CONFORMANCE_ARGS)

# The same tests on two processes of MicroPython's own unix port with our module.
conformance-stock: stock-unix
	@$(MAKE) --no-print-directory conformance-stock-run
conformance-stock-run:
	$(CONFORMANCE) --kind stock-unix --out $(OUT)/conformance $(CONFORMANCE_ARGS)

# Longer than the 45 s of `make test`; new inputs in $(BUILD)/fuzz/corpus,
# a crash's input in $(BUILD)/fuzz/artifacts.
FUZZ_SECONDS ?= 600
fuzz: deps
	@$(MAKE) --no-print-directory -C tests/fuzz fuzz BUILD=$(BUILD_ABS)/fuzz \
	    PYTHON=$(PYTHON) FUZZ_SECONDS=$(FUZZ_SECONDS)

bench: unix qemu
	$(PYTHON) -m tools.bench --build $(BUILD_ABS) --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_gatt --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_gatt --unix-binary $(BUILD_ABS)/unix/micropython --no-connection-events
	$(PYTHON) -m tools.bench_gatt --kind qemu --count 500
	$(PYTHON) -m tools.bench_gatt --kind qemu --count 500 --no-connection-events
	$(PYTHON) -m tools.bench_board --build $(BUILD_ABS) --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_ram --build $(BUILD_ABS) --knobs --heap --unix-binary $(BUILD_ABS)/unix/micropython
	$(PYTHON) -m tools.bench_cost --unix-binary $(BUILD_ABS)/unix/micropython \
	    --results $(BUILD_ABS)/bench-cost.json

clean:
	rm -rf $(BUILD)/unix $(BUILD)/unix-san $(BUILD)/qemu $(BUILD)/stock-unix $(BUILD)/mp-* $(BUILD)/fuzz
