// The qemu board's flash: an image file on the host, read and written through
// Arm semihosting (QEMU runs with -semihosting), so its contents persist
// across emulator restarts. The image path comes from the semihosting
// command line: -semihosting-config enable=on,target=native,arg=firmware,arg=fs=PATH
// (see README.md). Bytes past the end of the image read as erased (0xff).
#include <stdbool.h>
#include <string.h>

#include "board_flash.h"
#include "flash_semihost.h"

#define SYS_OPEN (0x01)
#define SYS_WRITE (0x05)
#define SYS_READ (0x06)
#define SYS_SEEK (0x0a)
#define SYS_GET_CMDLINE (0x15)

#define OPEN_MODE_RPLUS_B (3) // "r+b": an existing image
#define OPEN_MODE_WPLUS_B (7) // "w+b": a new one

#define FLASH_BYTES (2 * 1024 * 1024)

static int flash_handle = -1;
static char flash_cmdline[256];
static const char *flash_path;

static int semihost_call(int op, void *args) {
    register int r0 __asm__ ("r0") = op;
    register void *r1 __asm__ ("r1") = args;
    __asm__ volatile ("bkpt 0xab" : "+r" (r0) : "r" (r1) : "memory");
    return r0;
}

void flash_semihost_init(void) {
    uint32_t cmd_args[2] = { (uint32_t)flash_cmdline, sizeof(flash_cmdline) - 1 };
    flash_path = NULL;
    flash_handle = -1;
    if (semihost_call(SYS_GET_CMDLINE, cmd_args) != 0) {
        return;
    }
    flash_cmdline[cmd_args[1]] = '\0';
    // Space separated words; the one that starts with "fs=" names the image.
    for (char *word = flash_cmdline; *word != '\0';) {
        char *end = word;
        while (*end != '\0' && *end != ' ') {
            ++end;
        }
        bool last = *end == '\0';
        *end = '\0';
        if (strncmp(word, "fs=", 3) == 0 && word[3] != '\0') {
            flash_path = word + 3;
        }
        if (last) {
            break;
        }
        word = end + 1;
    }
    if (flash_path == NULL) {
        return;
    }
    uint32_t open_args[3] = { (uint32_t)flash_path, OPEN_MODE_RPLUS_B, strlen(flash_path) };
    int handle = semihost_call(SYS_OPEN, open_args);
    if (handle < 0) {
        open_args[1] = OPEN_MODE_WPLUS_B;
        handle = semihost_call(SYS_OPEN, open_args);
    }
    flash_handle = handle;
}

const char *flash_semihost_path(void) {
    return flash_handle >= 0 ? flash_path : NULL;
}

uint32_t board_flash_size(void) {
    return flash_handle >= 0 ? FLASH_BYTES : 0;
}

static int flash_seek(uint32_t offset) {
    uint32_t args[2] = { (uint32_t)flash_handle, offset };
    return semihost_call(SYS_SEEK, args) == 0 ? 0 : -5; // EIO
}

int board_flash_read(uint32_t offset, uint8_t *buf, size_t len) {
    if (flash_seek(offset) != 0) {
        return -5;
    }
    uint32_t args[3] = { (uint32_t)flash_handle, (uint32_t)buf, len };
    int not_read = semihost_call(SYS_READ, args);
    if (not_read < 0 || (size_t)not_read > len) {
        return -5;
    }
    // Past the end of the image: never written, so erased.
    memset(buf + len - not_read, 0xff, not_read);
    return 0;
}

int board_flash_write(uint32_t offset, const uint8_t *buf, size_t len) {
    if (flash_seek(offset) != 0) {
        return -5;
    }
    uint32_t args[3] = { (uint32_t)flash_handle, (uint32_t)buf, len };
    return semihost_call(SYS_WRITE, args) == 0 ? 0 : -5;
}

int board_flash_sync(void) {
    // QEMU writes through to the host file at each SYS_WRITE.
    return 0;
}
