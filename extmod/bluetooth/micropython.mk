# The `bluetooth` module as a MicroPython user C module:
#   make USER_C_MODULES=<this repo>/extmod
# It builds the portable host library lib/blehost/ with it. The port must
# provide the functions in lib/blehost/bh_port.h and call the hooks in
# extmod/bluetooth/mpbt_port.h. MicroPython's stock unix port (ports/unix of
# its own tree) gets them from port_unix/; other ports bring their own.
BLUETOOTH_MOD_DIR := $(USERMOD_DIR)
BLEHOST_DIR := $(abspath $(BLUETOOTH_MOD_DIR)/../../lib/blehost)

SRC_USERMOD_C += $(wildcard $(BLUETOOTH_MOD_DIR)/*.c)
SRC_USERMOD_LIB_C += $(wildcard $(BLEHOST_DIR)/*.c)

ifeq ($(abspath $(CURDIR)),$(abspath $(TOP)/ports/unix))
SRC_USERMOD_C += $(BLUETOOTH_MOD_DIR)/port_unix/mpbt_port_unix.c $(BLUETOOTH_MOD_DIR)/port_unix/hci_posix.c
CFLAGS_USERMOD += -I$(BLUETOOTH_MOD_DIR)/port_unix
endif

CFLAGS_USERMOD += -I$(BLUETOOTH_MOD_DIR) -I$(BLEHOST_DIR)
