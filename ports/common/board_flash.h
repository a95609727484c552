// The board's flash: a block device that holds the filesystem at `/`.
// Each port provides the storage (an image file on the host) behind these
// three functions; board_flash.c turns them into `_board.Flash`, the block
// device object that the frozen _boot.py mounts with littlefs v2.
#ifndef MICROPY_INCLUDED_PORTS_COMMON_BOARD_FLASH_H
#define MICROPY_INCLUDED_PORTS_COMMON_BOARD_FLASH_H

#include <stddef.h>
#include <stdint.h>

#define BOARD_FLASH_BLOCK_SIZE (4096)

// Size of the storage in bytes (a multiple of BOARD_FLASH_BLOCK_SIZE), 0 when
// the board has none.
uint32_t board_flash_size(void);

// Read/write len bytes at offset. Bytes never written read as 0xff (erased).
// Return 0 or a negative errno.
int board_flash_read(uint32_t offset, uint8_t *buf, size_t len);
int board_flash_write(uint32_t offset, const uint8_t *buf, size_t len);

// Make written data durable (the host file is flushed). Returns 0 or -errno.
int board_flash_sync(void);

#endif // MICROPY_INCLUDED_PORTS_COMMON_BOARD_FLASH_H
