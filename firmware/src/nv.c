/* Non-volatile storage of board.h for the learning-state store (store.c).
 *
 * QEMU builds (HYPR_SEMIHOSTING): a file on the host, through semihosting file I/O, named on QEMU's command line
 * (-semihosting-config ...,arg=firmware,arg=nv=PATH; hypr_edge/qemu.py adds it for `--nv PATH`) and created when
 * missing. It outlives QEMU, so a new QEMU process boots from what the last one saved; killing QEMU cuts a write
 * between two storage accesses like a power loss. Erase writes 0xFF; bytes past the end of the file read 0xFF.
 * Without that argument, and on the other boards, there is no storage (board_nv_size() = 0): a real board needs
 * a flash backend here (docs/firmware.md says what it must do). */
#include "board.h"
#include "hypr_model.h"

#if HYPR_SEMIHOSTING && defined(HYPR_STATE_BYTES)
#define NV_SLOT (((16u + HYPR_STATE_BYTES) + 4095u) / 4096u * 4096u)   /* store.h: slot head + image, whole KiB */
#define NV_BYTES (2u * NV_SLOT)

enum { SYS_OPEN = 0x01, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_SEEK = 0x0A, SYS_GET_CMDLINE = 0x15 };
enum { MODE_RB_PLUS = 3, MODE_WB_PLUS = 7 };   /* fopen modes "r+b", "w+b" */

static int32_t semihost(uint32_t op, void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

static int32_t fd = -2;   /* -2: not looked for yet, -1: none */

/* the nv=PATH word of the semihosting command line, opened (or created) read-write */
static void nv_open(void)
{
    static char line[256];
    uint32_t a[3];
    char *p = line, *name = 0;
    fd = -1;
    a[0] = (uint32_t)(uintptr_t)line;
    a[1] = sizeof line - 1;
    if (semihost(SYS_GET_CMDLINE, a) != 0 || a[1] >= sizeof line)
        return;
    line[a[1]] = 0;
    for (; *p; p++)
        if ((p == line || p[-1] == ' ') && p[0] == 'n' && p[1] == 'v' && p[2] == '=')
            name = p + 3;
    if (!name || !*name)
        return;
    for (p = name; *p && *p != ' '; p++) {
    }
    *p = 0;
    a[0] = (uint32_t)(uintptr_t)name;
    a[2] = (uint32_t)(p - name);
    a[1] = MODE_RB_PLUS;
    fd = semihost(SYS_OPEN, a);
    if (fd < 0) {
        a[1] = MODE_WB_PLUS;
        fd = semihost(SYS_OPEN, a);
    }
}

uint32_t board_nv_size(void)
{
    if (fd == -2)
        nv_open();
    return fd >= 0 ? NV_BYTES : 0;
}

static int nv_seek(uint32_t addr, uint32_t n)
{
    uint32_t a[2];
    if (board_nv_size() == 0 || addr > NV_BYTES || n > NV_BYTES - addr)
        return -1;
    a[0] = (uint32_t)fd;
    a[1] = addr;
    return semihost(SYS_SEEK, a) == 0 ? 0 : -1;
}

int board_nv_read(uint32_t addr, uint8_t *dst, uint32_t n)
{
    uint32_t a[3];
    int32_t left;
    if (nv_seek(addr, n))
        return -1;
    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)dst;
    a[2] = n;
    left = semihost(SYS_READ, a);   /* bytes not read: past the end of the file, never written */
    if (left < 0 || (uint32_t)left > n)
        return -1;
    while (left)
        dst[n - (uint32_t)left--] = 0xFF;
    return 0;
}

int board_nv_write(uint32_t addr, const uint8_t *src, uint32_t n)
{
    uint32_t a[3];
    if (nv_seek(addr, n))
        return -1;
    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)src;
    a[2] = n;
    return semihost(SYS_WRITE, a) == 0 ? 0 : -1;
}

int board_nv_erase(uint32_t addr, uint32_t n)
{
    uint8_t ff[64];
    uint32_t i, k;
    for (i = 0; i < sizeof ff; i++)
        ff[i] = 0xFF;
    for (i = 0; i < n; i += k) {
        k = n - i < sizeof ff ? n - i : (uint32_t)sizeof ff;
        if (board_nv_write(addr + i, ff, k))
            return -1;
    }
    return 0;
}

#else
uint32_t board_nv_size(void) { return 0; }
int board_nv_read(uint32_t addr, uint8_t *dst, uint32_t n) { (void)addr; (void)dst; (void)n; return -1; }
int board_nv_write(uint32_t addr, const uint8_t *src, uint32_t n) { (void)addr; (void)src; (void)n; return -1; }
int board_nv_erase(uint32_t addr, uint32_t n) { (void)addr; (void)n; return -1; }
#endif
