// The unix board's flash: an image file on the host (--fs PATH), read and
// written in place. Bytes past the end of the file read as erased (0xff);
// the file grows as blocks are written, up to the flash size.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "board_flash.h"
#include "flash_file.h"

static int flash_fd = -1;
static uint32_t flash_bytes;

int flash_file_open(const char *path, uint32_t size) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    flash_fd = fd;
    flash_bytes = size - size % BOARD_FLASH_BLOCK_SIZE;
    return 0;
}

uint32_t board_flash_size(void) {
    return flash_fd >= 0 ? flash_bytes : 0;
}

int board_flash_read(uint32_t offset, uint8_t *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(flash_fd, buf + done, len - done, (off_t)offset + (off_t)done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            // Past the end of the image: never written, so erased.
            memset(buf + done, 0xff, len - done);
            break;
        }
        done += (size_t)n;
    }
    return 0;
}

int board_flash_write(uint32_t offset, const uint8_t *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(flash_fd, buf + done, len - done, (off_t)offset + (off_t)done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

int board_flash_sync(void) {
    // Written data is in the host's page cache: it survives the process
    // (a power cycle of the board). Nothing more is needed.
    return 0;
}
