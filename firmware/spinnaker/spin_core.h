/* What the generated SpiNNaker core images share with the host machine simulator: the routing-key layout and
 * the core descriptor through which the host loads, resets and reads a core. See docs/spinnaker.md. */
#ifndef SPIN_CORE_H
#define SPIN_CORE_H

#include <stdint.h>

/* the multicast key layout (SPIN_KEY, SPIN_KEY_TYPE, SPIN_KEY_CORE, SPIN_KEY_IDX) and the packet kinds (SPIN_IN,
 * SPIN_SPIKE, ...): generated from hypr_edge/spinnaker/packets.py with each SpiNNaker folder */
#include "spin_keys.h"

/* payloads are 32-bit words: signed values travel as two's complement, converted back without
 * implementation-defined casts */
static inline uint32_t spin_s2u(int32_t v) { return (uint32_t)v; }
static inline int32_t spin_u2s(uint32_t p) { return p <= 0x7FFFFFFFu ? (int32_t)p : -(int32_t)(~p) - 1; }

typedef struct {
    const char *name;
    void (*c_main)(void);                    /* registers the callbacks */
    void (*load)(uint32_t seed, int learn);  /* host: zero the state, seed the PRNG, choose learning or inference */
    int16_t *w;                              /* hidden rows of the core (restored by the host between streams) */
    uint32_t n_w;
    int16_t *wo;                             /* readout weights [W_out | b_out] on the readout's core, else NULL */
    uint32_t n_wo;
    const int32_t *state;                    /* hidden role: n_local x D states; else NULL */
    const uint8_t *spikes;                   /* hidden role: n_local spikes z_t; else NULL */
    const int32_t *outputs;                  /* readout role: o_t; else NULL */
    const uint32_t *updates;                 /* SGD updates applied since load */
    uint32_t n0, n_local;                    /* first hidden neuron and count (hidden role) */
} spin_core_t;

typedef struct { uint32_t key, mask, dest; } spin_route_t;   /* first match wins; dest: bitmap of cores */

#endif
