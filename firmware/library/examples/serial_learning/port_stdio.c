/* The serial_learning example's port for a PC (POSIX): stdin and stdout are the serial link, binary. */
#include <stdint.h>
#include <stdio.h>

void port_init(void) {}
int port_read(void)
{
    int c = getchar();
    return c == EOF ? -1 : c;
}
void port_write(const uint8_t *p, unsigned n)
{
    fwrite(p, 1, n, stdout);
    fflush(stdout);                                    /* the host waits for each answer */
}
