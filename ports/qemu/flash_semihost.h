// The qemu board's flash image over semihosting (see flash_semihost.c).
#ifndef MICROPY_INCLUDED_QEMU_FLASH_SEMIHOST_H
#define MICROPY_INCLUDED_QEMU_FLASH_SEMIHOST_H

// Find the image named on the semihosting command line and open it
// (created when missing). Without one the board has no flash.
void flash_semihost_init(void);

// The image path, or NULL when the board has no flash.
const char *flash_semihost_path(void);

#endif // MICROPY_INCLUDED_QEMU_FLASH_SEMIHOST_H
