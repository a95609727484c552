# Frozen content for the boards. mpy-cross is built once in the MicroPython
# tree with its own defaults: not with this port's BUILD, SANITIZE or CFLAGS, which a
# plain sub-make would inherit from the command line. Include after the
# port's `all` rule; the port sets, before py/mkenv.mk:
#   MICROPY_MPYCROSS ?= $(MICROPY_DIR)/mpy-cross/build/mpy-cross
$(MICROPY_MPYCROSS):
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u BUILD -u SANITIZE -u DEBUG \
	    $(MAKE) -C $(TOP)/mpy-cross BUILD=build USER_C_MODULES= CFLAGS_EXTRA= LDFLAGS_EXTRA= -j2

$(BUILD)/frozen_content.c: | $(MICROPY_MPYCROSS)

# makemanifest.py rewrites frozen_content.c only when a frozen file changed,
# but the qstr enum in it follows the port's qstrs too: drop it when they move.
$(BUILD)/frozen_content.c: $(BUILD)/frozen_qstrs.stamp
$(BUILD)/frozen_qstrs.stamp: $(HEADER_BUILD)/qstrdefs.generated.h
	$(Q)rm -f $(BUILD)/frozen_content.c
	$(Q)touch $@
