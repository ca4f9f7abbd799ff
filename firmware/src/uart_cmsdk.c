/* ARM CMSDK APB UART (QEMU mps2-an385/an386/an500: UART0 at 0x40004000). Polled. */
#include "board.h"

#ifndef HYPR_UART_BASE
#define HYPR_UART_BASE 0x40004000u
#endif
#define UART_DATA (*(volatile uint32_t *)(HYPR_UART_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(HYPR_UART_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(HYPR_UART_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(HYPR_UART_BASE + 0x10u))
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

void board_init(void)
{
    UART_BAUDDIV = HYPR_TICK_HZ / 115200u; /* must be >= 16 */
    UART_CTRL = 3u;                        /* TX enable | RX enable: without them QEMU's model blocks */
    ticks_init();
}

void uart_write(const uint8_t *p, uint32_t n)
{
    while (n--) {
        while (UART_STATE & STATE_TX_FULL) {
        }
        UART_DATA = *p++;
    }
}

uint8_t uart_getc(void)
{
    while (!(UART_STATE & STATE_RX_FULL)) {
    }
    return (uint8_t)UART_DATA;
}
