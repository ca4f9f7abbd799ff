/* STM32F4 USART (QEMU netduinoplus2: USART1 at 0x40011000; Nucleo-F4: USART2 on PA2/PA3). Polled.
 * HYPR_UART_BASE, HYPR_UART_RCC_REG/BIT (clock enable) and HYPR_UART_GPIO_PINS (PA pins, AF7) come from the
 * board's -D flags. QEMU ignores the RCC and GPIO writes; real chips need them. */
#include "board.h"

#ifndef HYPR_UART_BASE
#define HYPR_UART_BASE 0x40011000u /* USART1 */
#endif
#ifndef HYPR_UART_RCC_REG
#define HYPR_UART_RCC_REG 0x40023844u /* RCC_APB2ENR */
#define HYPR_UART_RCC_BIT 4u          /* USART1EN */
#define HYPR_UART_TX_PIN 9u           /* PA9 / PA10 */
#define HYPR_UART_RX_PIN 10u
#endif
#define REG(a) (*(volatile uint32_t *)(a))
#define USART_SR REG(HYPR_UART_BASE + 0x00u)
#define USART_DR REG(HYPR_UART_BASE + 0x04u)
#define USART_BRR REG(HYPR_UART_BASE + 0x08u)
#define USART_CR1 REG(HYPR_UART_BASE + 0x0Cu)
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define SR_ORE (1u << 3)
#define RCC_AHB1ENR REG(0x40023830u)
#define GPIOA 0x40020000u

#ifndef HYPR_UART_CLOCK_HZ
#define HYPR_UART_CLOCK_HZ 16000000u /* reset clock: HSI */
#endif

static void gpio_af7(uint32_t pin)
{
    volatile uint32_t *moder = (volatile uint32_t *)(GPIOA + 0x00u);
    volatile uint32_t *afr = (volatile uint32_t *)(GPIOA + 0x20u + 4u * (pin / 8u));
    *moder = (*moder & ~(3u << (2u * pin))) | (2u << (2u * pin));
    *afr = (*afr & ~(15u << (4u * (pin % 8u)))) | (7u << (4u * (pin % 8u)));
}

void board_init(void)
{
    RCC_AHB1ENR |= 1u; /* GPIOA */
    REG(HYPR_UART_RCC_REG) |= 1u << HYPR_UART_RCC_BIT;
    gpio_af7(HYPR_UART_TX_PIN);
    gpio_af7(HYPR_UART_RX_PIN);
    USART_BRR = (HYPR_UART_CLOCK_HZ + 57600u) / 115200u;
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE | TE | RE */
    ticks_init();
}

void uart_write(const uint8_t *p, uint32_t n)
{
    while (n--) {
        while (!(USART_SR & SR_TXE)) {
        }
        USART_DR = *p++;
    }
}

uint8_t uart_getc(void)
{
    /* On overrun (ORE) reading DR clears it; the lost byte then shows up as a bad frame, answered by a NACK. */
    while (!(USART_SR & (SR_RXNE | SR_ORE))) {
    }
    return (uint8_t)USART_DR;
}
