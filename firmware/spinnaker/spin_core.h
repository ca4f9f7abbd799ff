/* What the generated SpiNNaker core images share with the host machine simulator: the routing-key layout and
 * the core descriptor through which the host loads, resets and reads a core. See docs/spinnaker.md. */
#ifndef SPIN_CORE_H
#define SPIN_CORE_H

#include <stdint.h>

/* key = type (8 bits) | core (8 bits: source of spikes, destination of learning signals) | index (16 bits) */
#define SPIN_KEY(type, core, idx) (((uint32_t)(type) << 24) | ((uint32_t)(core) << 16) | (uint32_t)(idx))
#define SPIN_KEY_TYPE(k) ((k) >> 24)
#define SPIN_KEY_CORE(k) (((k) >> 16) & 0xFFu)
#define SPIN_KEY_IDX(k)  ((k) & 0xFFFFu)
enum {
    SPIN_IN = 1,      /* host -> hidden cores: input x_t[idx], payload int16 (only nonzero values are sent) */
    SPIN_SPIKE = 2,   /* hidden core -> other hidden cores (recurrent) and readout: z_t of local neuron idx */
    SPIN_SYNC = 3,    /* hidden core -> readout: all of this step's spikes of the core have been sent */
    SPIN_L = 4,       /* readout -> hidden core `core`: L of idx = local neuron * chunk + step, payload int32 */
    SPIN_LABEL = 5,   /* host -> readout: label of this step, payload int32 (< 0: no loss) */
    SPIN_CMD = 6      /* host -> readout: idx 1 = apply the update of a partial chunk now */
};

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
