// The unix board's flash image (see flash_file.c).
#ifndef MICROPY_INCLUDED_UNIX_FLASH_FILE_H
#define MICROPY_INCLUDED_UNIX_FLASH_FILE_H

#include <stdint.h>

// Use the image file at path (created when missing) as a flash of size bytes.
// Returns 0 or a negative errno.
int flash_file_open(const char *path, uint32_t size);

#endif // MICROPY_INCLUDED_UNIX_FLASH_FILE_H
