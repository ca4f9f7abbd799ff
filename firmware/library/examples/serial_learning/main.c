/* serial_learning: the model learns on-line from samples that arrive over a serial port.
 *
 * Each record from the host is one command byte and its payload, little-endian:
 *   'I' x[HYPR_N_IN] (int16, the model's input format Q.HYPR_FX)              one inference step
 *   'L' x[HYPR_N_IN] (int16) label (int16; -1: no loss at this step)           one learning step; the weights
 *                                                                              change at every HYPR_CHUNK-th step
 *   'C'                                                                        apply a partial chunk's update now
 *   'R'                                                                        zero the state, keep the weights
 *   'H'                                                                        hello: which model is this?
 * The device answers 'I' and 'L' with the readout o_t, HYPR_N_OUT int32 values (Q.HYPR_FS), 'C' and 'R' with the
 * command byte, 'H' with "HYPR" and HYPR_MODEL_HASH (uint32) so the host can check that it talks to the model it
 * expects; an unknown command byte is answered with '?'.
 *
 * The board provides the byte link (a UART, USB CDC, ...): port_init(), port_read() (blocks for one byte) and
 * port_write(). port_stdio.c beside this file is a port for a PC (stdin/stdout), used by the CMake example. */
#include <stdint.h>

#include "hypr_model.h"

void port_init(void);
int port_read(void);                                  /* one byte 0..255, or -1 when the link has closed */
void port_write(const uint8_t *p, unsigned n);

static int read_bytes(uint8_t *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int c = port_read();
        if (c < 0) return 0;
        p[i] = (uint8_t)c;
    }
    return 1;
}

static int16_t le16(const uint8_t *p) { return (int16_t)(uint16_t)(p[0] | (p[1] << 8)); }

static void write_u32(uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    port_write(b, 4);
}

int main(void)
{
    uint8_t buf[2 * HYPR_N_IN + 2];
    int16_t x[HYPR_N_IN];
    port_init();
    hypr_init();
    for (;;) {
        int cmd = port_read();
        if (cmd < 0) return 0;
        if (cmd == 'I' || cmd == 'L') {
            unsigned n = 2 * HYPR_N_IN + (cmd == 'L' ? 2 : 0);
            if (!read_bytes(buf, n)) return 0;
            for (unsigned i = 0; i < HYPR_N_IN; i++) x[i] = le16(buf + 2 * i);
            if (cmd == 'L') hypr_learn_step(x, le16(buf + 2 * HYPR_N_IN));
            else hypr_step(x);
            const int32_t *o = hypr_outputs();
            for (unsigned c = 0; c < HYPR_N_OUT; c++) write_u32((uint32_t)o[c]);
        } else if (cmd == 'H') {
            port_write((const uint8_t *)"HYPR", 4);
            write_u32(HYPR_MODEL_HASH);
        } else if (cmd == 'C' || cmd == 'R') {
            if (cmd == 'C') hypr_end_chunk();
            else hypr_reset_state();
            uint8_t ack = (uint8_t)cmd;
            port_write(&ack, 1);
        } else {
            uint8_t nak = '?';
            port_write(&nak, 1);
        }
    }
}
