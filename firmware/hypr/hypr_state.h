/* The single-core library of hypr_model.h, part 3: the learning state as one image (docs/fixed-point.md §11), to
 * save it (hypr_state_read, hypr_state_save) and to load it (hypr_state_load; streamed: hypr_state_write, then
 * hypr_state_commit). NumPy twin: hypr_edge/fixed/learning_state.py, which writes the same image byte for byte.
 *
 * Image (little-endian): header {magic "HYST", version u16, flags u16 (1: the hidden layer learns), model hash u32,
 * image bytes u32, CRC-32 of the body u32}, then the body: the bytes of prng_state, n_updates, pos, w (learning
 * all), wo, s, z, o, e (learning all), eo, s0, buf_x, buf_z0 (learning all), buf_z, buf_eps. Buffer rows past the
 * chunk position hold stale data in RAM; the image has zeros there, so every state has exactly one image.
 *
 * Included once, by the generated hypr_model.c, after hypr_update.h (whose state it reads and writes). No writable
 * data of its own: the header of a streamed load stays with the caller. */
#ifndef HYPR_STATE_H
#define HYPR_STATE_H

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hypr_state.h copies the state's variables byte for byte into a little-endian image"
#endif

#define STATE_MAGIC 0x54535948u   /* "HYST" */
#define STATE_VERSION 1u
#define STATE_HEAD HYPR_STATE_HEAD
#define STATE_FIELDS 15
#define ZNB (ZW * (ZWB / 8))      /* bytes of one neuron's spike buffer */
enum { VALID_ALL, VALID_CHUNK, VALID_ROWS };   /* valid always, while pos > 0, for the first pos rows */

#if HYPR_LEARN_HIDDEN
#define STATE_HIDDEN_BYTES (sizeof w + sizeof e + sizeof s0 + sizeof buf_x + sizeof buf_z0)
#else
#define STATE_HIDDEN_BYTES 0u
#endif
/* the generator's HYPR_STATE_BYTES (from learning_state.py) and the variables here must agree */
typedef char hypr_state_bytes_check[STATE_HEAD + sizeof prng_state + sizeof n_updates + sizeof pos + sizeof wo
    + sizeof s + sizeof z + sizeof o + sizeof eo + sizeof buf_z + sizeof buf_eps + STATE_HIDDEN_BYTES
    == HYPR_STATE_BYTES && sizeof pos == 4 ? 1 : -1];

/* Field k of the body: its variable (NULL when absent in this learning mode), size, validity and row size. A
 * switch, not a table of pointers: such a table would be writable data on a PIC host. */
static uint8_t *state_field(int k, uint32_t *bytes, int *valid, uint32_t *row)
{
    *valid = VALID_ALL;
    *row = 0;
    switch (k) {
    case 0: *bytes = sizeof prng_state; return (uint8_t *)&prng_state;
    case 1: *bytes = sizeof n_updates; return (uint8_t *)&n_updates;
    case 2: *bytes = sizeof pos; return (uint8_t *)&pos;
#if HYPR_LEARN_HIDDEN
    case 3: *bytes = sizeof w; return (uint8_t *)w;
#endif
    case 4: *bytes = sizeof wo; return (uint8_t *)wo;
    case 5: *bytes = sizeof s; return (uint8_t *)s;
    case 6: *bytes = sizeof z; return (uint8_t *)z;
    case 7: *bytes = sizeof o; return (uint8_t *)o;
#if HYPR_LEARN_HIDDEN
    case 8: *bytes = sizeof e; return (uint8_t *)e;
#endif
    case 9: *bytes = sizeof eo; return (uint8_t *)eo;
#if HYPR_LEARN_HIDDEN
    case 10: *bytes = sizeof s0; *valid = VALID_CHUNK; return (uint8_t *)s0;
    case 11: *bytes = sizeof buf_x; *valid = VALID_ROWS; *row = sizeof buf_x[0] * HYPR_N_IN; return (uint8_t *)buf_x;
    case 12: *bytes = sizeof buf_z0; *valid = VALID_CHUNK; return (uint8_t *)buf_z0;
#endif
    case 13: *bytes = sizeof buf_z; *valid = VALID_CHUNK; return (uint8_t *)buf_z;
    case 14: *bytes = sizeof buf_eps; *valid = VALID_ROWS; *row = sizeof buf_eps[0] * C; return (uint8_t *)buf_eps;
    default: *bytes = 0; return 0;
    }
}

/* bytes of a field that hold data at chunk position p */
static uint32_t state_valid_bytes(int valid, uint32_t bytes, uint32_t row, uint32_t p)
{
    if (valid == VALID_ALL) return bytes;
    if (p == 0) return 0;
    return valid == VALID_CHUNK || p * row > bytes ? bytes : p * row;
}

static uint32_t state_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void state_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* CRC-32/IEEE (zlib.crc32), half-byte table */
static uint32_t state_crc32(uint32_t crc, const uint8_t *p, uint32_t n)
{
    static const uint32_t T[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
        0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ T[crc & 15u];
        crc = (crc >> 4) ^ T[crc & 15u];
    }
    return ~crc;
}

/* body bytes [off, off + n) of the live state: its image (zeros past the valid part of each field), or with raw
 * the variables' bytes as they are (after hypr_state_write: the image as written) */
static void state_body_read(uint32_t off, uint8_t *dst, uint32_t n, int raw)
{
    uint32_t base = 0, bytes, row, valid, i;
    int k, kind;
    for (k = 0; k < STATE_FIELDS && n; k++) {
        const uint8_t *p = state_field(k, &bytes, &kind, &row);
        if (off < base + bytes) {
            valid = raw ? bytes : state_valid_bytes(kind, bytes, row, pos);
            for (i = off - base; i < bytes && n; i++, n--, off++) *dst++ = i < valid ? p[i] : 0;
        }
        base += bytes;
    }
}

static uint32_t state_body_crc(int raw)
{
    uint8_t blk[32];
    uint32_t off, n, crc = 0, body = HYPR_STATE_BYTES - STATE_HEAD;
    for (off = 0; off < body; off += n) {
        n = body - off < sizeof blk ? body - off : (uint32_t)sizeof blk;
        state_body_read(off, blk, n, raw);
        crc = state_crc32(crc, blk, n);
    }
    return crc;
}

/* field k's bytes: in the image body img, or the live variable (img NULL) */
static const uint8_t *state_field_at(int k, const uint8_t *img, uint32_t *bytes, int *valid, uint32_t *row)
{
    uint32_t off = 0, b, r;
    int j, v;
    const uint8_t *p = state_field(k, bytes, valid, row);
    if (!img) return p;
    for (j = 0; j < k; j++) {
        state_field(j, &b, &v, &r);
        off += b;
    }
    return img + off;
}

/* values no run of the library reaches: chunk position >= lambda, PRNG 0, spikes other than 0/1, data past the
 * chunk position in a buffer (a stray spike bit there would enter the next update) */
static int state_check(const uint8_t *img)
{
    uint32_t bytes, row, p, prng, i, t;
    int k, valid;
    const uint8_t *f;
    prng = state_get32(state_field_at(0, img, &bytes, &valid, &row));
    p = state_get32(state_field_at(2, img, &bytes, &valid, &row));
    if (p >= LAM || prng == 0) return HYPR_STATE_E_VALUE;
    f = state_field_at(6, img, &bytes, &valid, &row);
    for (i = 0; i < bytes; i++)
        if (f[i] > 1) return HYPR_STATE_E_VALUE;
    for (k = 0; k < STATE_FIELDS; k++) {
        f = state_field_at(k, img, &bytes, &valid, &row);
        for (i = state_valid_bytes(valid, bytes, row, p); i < bytes; i++)
            if (f[i]) return HYPR_STATE_E_VALUE;
    }
    if (p) {
        f = state_field_at(13, img, &bytes, &valid, &row);   /* neuron n's bits t >= pos: z_{t+1} not yet seen */
        for (i = 0; i < N; i++)
            for (t = p; t < 8 * ZNB; t++)
                if ((f[i * ZNB + t / 8] >> (t % 8)) & 1) return HYPR_STATE_E_VALUE;
#if HYPR_LEARN_HIDDEN
        f = state_field_at(12, img, &bytes, &valid, &row);   /* z_0 bits past the last neuron */
        for (t = N; t < 8 * ZB; t++)
            if ((f[t / 8] >> (t % 8)) & 1) return HYPR_STATE_E_VALUE;
#endif
    }
    return 0;
}

static int state_check_head(const uint8_t *h)
{
    if (state_get32(h) != STATE_MAGIC || (uint32_t)(h[4] | (h[5] << 8)) != STATE_VERSION) return HYPR_STATE_E_FORMAT;
    if (state_get32(h + 8) != HYPR_MODEL_HASH) return HYPR_STATE_E_MODEL;
    if (state_get32(h + 12) != HYPR_STATE_BYTES || (uint32_t)(h[6] | (h[7] << 8)) != (uint32_t)HYPR_LEARN_HIDDEN)
        return HYPR_STATE_E_SIZE;
    return 0;
}

/* §11 API ---------------------------------------------------------------------------------------------- */
uint32_t hypr_state_size(void) { return HYPR_STATE_BYTES; }

void hypr_state_read(uint32_t off, uint8_t *dst, uint32_t n)
{
    if (off > HYPR_STATE_BYTES || n > HYPR_STATE_BYTES - off) return;
    if (off < STATE_HEAD) {
        uint8_t h[STATE_HEAD];
        uint32_t k = STATE_HEAD - off < n ? STATE_HEAD - off : n, i;
        state_put32(h, STATE_MAGIC);
        h[4] = (uint8_t)STATE_VERSION; h[5] = 0;
        h[6] = (uint8_t)HYPR_LEARN_HIDDEN; h[7] = 0;
        state_put32(h + 8, HYPR_MODEL_HASH);
        state_put32(h + 12, HYPR_STATE_BYTES);
        state_put32(h + 16, state_body_crc(0));
        for (i = 0; i < k; i++) dst[i] = h[off + i];
        dst += k;
        off += k;
        n -= k;
    }
    state_body_read(off - STATE_HEAD, dst, n, 0);
}

uint32_t hypr_state_save(uint8_t *buf)
{
    hypr_state_read(0, buf, HYPR_STATE_BYTES);
    return HYPR_STATE_BYTES;
}

void hypr_state_write(uint32_t off, const uint8_t *src, uint32_t n)
{
    uint32_t base = STATE_HEAD, bytes, row, i;
    int k, valid;
    if (off > HYPR_STATE_BYTES || n > HYPR_STATE_BYTES - off) return;
    hypr_tensor_written();   /* the loaded chunk's states are not the forward steps' here: the update replays */
    for (k = 0; k < STATE_FIELDS && n; k++) {
        uint8_t *p = state_field(k, &bytes, &valid, &row);
        if (off < base) {   /* header bytes: the caller keeps them for hypr_state_commit */
            i = base - off < n ? base - off : n;
            src += i; off += i; n -= i;
        }
        for (i = off - base; off >= base && i < bytes && n; i++, n--, off++) p[i] = *src++;
        base += bytes;
    }
}

int hypr_state_commit(const uint8_t *head)
{
    int r = state_check_head(head);
    if (!r && state_body_crc(1) != state_get32(head + 16)) r = HYPR_STATE_E_CRC;
    if (!r) r = state_check(0);
    if (r) hypr_init();
    return r;
}

int hypr_state_load(const uint8_t *img, uint32_t len)
{
    int r;
    if (len != HYPR_STATE_BYTES) return HYPR_STATE_E_SIZE;
    if ((r = state_check_head(img)) != 0) return r;
    if (state_crc32(0, img + STATE_HEAD, len - STATE_HEAD) != state_get32(img + 16)) return HYPR_STATE_E_CRC;
    if ((r = state_check(img + STATE_HEAD)) != 0) return r;
    hypr_state_write(0, img, len);
    return 0;
}

#endif
