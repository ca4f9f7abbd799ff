/* What the command loop needs from a board: a byte link, a tick counter and a way to stop.
 * One implementation per UART family: uart_cmsdk.c (QEMU mps2-*), uart_stm32.c (STM32F4, QEMU netduinoplus2).
 * Board parameters arrive as -D flags from the generated Makefile / platformio.ini (see docs/firmware.md). */
#ifndef HYPR_BOARD_H
#define HYPR_BOARD_H
#include <stdint.h>

#ifndef HYPR_BOARD_NAME /* a bare token (-DHYPR_BOARD_NAME=mps2-an386), made a string here */
#define HYPR_BOARD_NAME unknown
#endif
#define HYPR_STR_(x) #x
#define HYPR_STR(x) HYPR_STR_(x)
#ifndef HYPR_SEMIHOSTING      /* 1 on QEMU builds: EXIT and faults end QEMU with a code */
#define HYPR_SEMIHOSTING 0
#endif
#ifndef HYPR_TICK_HZ          /* SysTick clock = core clock (CLKSOURCE=1) */
#define HYPR_TICK_HZ 25000000u
#endif

void board_init(void);
void uart_write(const uint8_t *p, uint32_t n);
uint8_t uart_getc(void);  /* blocks until a byte arrives */

/* SysTick as a free-running tick counter at the core clock (wraps of its 24 bits counted by its interrupt). */
void ticks_init(void);
uint32_t ticks_now(void);           /* elapsed ticks modulo 2^32 */
uint32_t ticks_sync(void);          /* wait for the next tick edge, return ticks_now() there */
#define TICKS_DIFF(a, b) ((uint32_t)((b) - (a)))

/* Non-volatile storage for the learning-state store (store.c), bytes 0 .. board_nv_size() - 1; nv.c implements it
 * per board family (QEMU: a host file through semihosting). Erased bytes read 0xFF; like flash, a write may need
 * erased bytes. Each returns 0 on success. docs/firmware.md says what a flash backend must guarantee. */
uint32_t board_nv_size(void);       /* 0: no non-volatile storage */
int board_nv_read(uint32_t addr, uint8_t *dst, uint32_t n);
int board_nv_write(uint32_t addr, const uint8_t *src, uint32_t n);
int board_nv_erase(uint32_t addr, uint32_t n);  /* at least [addr, addr + n) back to 0xFF (flash: whole sectors) */

/* Semihosting exit with a code (QEMU -semihosting); without HYPR_SEMIHOSTING: system reset. */
void board_exit(int code) __attribute__((noreturn));
#endif
