/* Reset handler and vector table for ARMv7-M (Cortex-M3/M4/M7); C99, no vendor headers. */
#include <stdint.h>
#include <string.h>
#include "board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
#if defined(__ARM_FP)
    /* Full access to CP10/CP11 before any float instruction (M4F, M7). */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    main();
    board_exit(0);
}

/* Any fault or unexpected interrupt ends the run with code 3 (QEMU) or resets (hardware): never a silent hang. */
void Default_Handler(void)
{
    board_exit(3);
}

void board_exit(int code)
{
#if defined(HYPR_SEMIHOSTING) && HYPR_SEMIHOSTING
    /* SYS_EXIT_EXTENDED (0x20): {ADP_Stopped_ApplicationExit, code} */
    volatile uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm("r0") = 0x20u;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
#else
    (void)code;
#endif
    SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ */
    for (;;) {
    }
}

typedef void (*vector_t)(void);
__attribute__((section(".isr_vector"), used)) const vector_t vector_table[16 + 16] = {
    (vector_t)(uintptr_t)&_estack, Reset_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* NMI..UsageFault */
    0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler, /* SVC, DebugMon, -, PendSV, SysTick */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* first 16 IRQs: none enabled */
};

/* SysTick, core clock, 24-bit reload; its interrupt counts wraps so regions longer than 2^24 ticks are
 * measured right (the handler's few instructions every 2^24 ticks are negligible). */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void ticks_init(void)
{
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* ENABLE | TICKINT | CLKSOURCE=core */
}

uint32_t ticks_now(void)
{
    uint32_t w, v;
    do { /* a wrap between the two reads shows as a changed wrap count: read again */
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return (w << 24) + (0xFFFFFFu - v);
}

uint32_t ticks_sync(void)
{
    /* Start measurements on a tick edge, so a measured region's count does not depend on where in a tick it
     * began (under QEMU -icount one tick is a fixed number of instructions). */
    uint32_t v = SYST_CVR;
    while (SYST_CVR == v) {
    }
    return ticks_now();
}
