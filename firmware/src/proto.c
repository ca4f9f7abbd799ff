/* Board protocol, device side. Same state machine as host.protocol.Decoder. */
#include "proto.h"

/* CRC-32/IEEE (reflected 0xEDB88320), half-byte table: 64 bytes of flash instead of 1 KiB. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t hp_crc32(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

void hp_decoder_init(hp_decoder_t *d)
{
    d->n = 0;
    d->need = HP_HEADER_BYTES + HP_CRC_BYTES;
    d->in_frame = 0;
    d->esc = 0;
    d->error = 0;
}

static hp_event_t fail(hp_decoder_t *d, uint8_t reason)
{
    d->in_frame = 0; /* hunt for the next SOF */
    d->error = reason;
    return HP_EV_ERROR;
}

uint32_t hp_frame_crc(const hp_decoder_t *d)
{
    const uint8_t *c = d->body + d->n - HP_CRC_BYTES;
    return (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) | ((uint32_t)c[3] << 24);
}

hp_event_t hp_feed(hp_decoder_t *d, uint8_t b)
{
    if (b == HP_SOF) { /* always (re)starts a frame: a partial frame before it was truncated */
        hp_decoder_init(d);
        d->in_frame = 1;
        return HP_EV_NONE;
    }
    if (!d->in_frame)
        return HP_EV_NONE; /* garbage between frames */
    if (d->esc) {
        d->esc = 0;
        b ^= HP_ESC_XOR;
        if (b != HP_SOF && b != HP_ESC)
            return fail(d, HP_NACK_BAD_ESCAPE);
    } else if (b == HP_ESC) {
        d->esc = 1;
        return HP_EV_NONE;
    }
    d->body[d->n++] = b;
    if (d->n == HP_HEADER_BYTES) {
        uint32_t len = hp_len(d);
        if (len > HP_MAX_PAYLOAD)
            return fail(d, HP_NACK_TOO_LONG);
        d->need = HP_HEADER_BYTES + len + HP_CRC_BYTES;
    }
    if (d->n < d->need)
        return HP_EV_NONE;
    d->in_frame = 0;
    if (hp_crc32(0, d->body, d->n - HP_CRC_BYTES) != hp_frame_crc(d))
        return fail(d, HP_NACK_BAD_CRC);
    return HP_EV_FRAME;
}

static uint32_t put(uint8_t *wire, uint32_t w, uint8_t b)
{
    if (b == HP_SOF || b == HP_ESC) {
        wire[w++] = HP_ESC;
        b ^= HP_ESC_XOR;
    }
    wire[w++] = b;
    return w;
}

uint32_t hp_encode(uint8_t *wire, uint8_t seq, uint8_t cmd, const uint8_t *payload, uint32_t len)
{
    uint8_t head[HP_HEADER_BYTES] = {HP_VERSION, seq, cmd, (uint8_t)len, (uint8_t)(len >> 8)};
    uint32_t crc = hp_crc32(hp_crc32(0, head, HP_HEADER_BYTES), payload, len);
    uint32_t w = 0, i;
    wire[w++] = HP_SOF;
    for (i = 0; i < HP_HEADER_BYTES; i++)
        w = put(wire, w, head[i]);
    for (i = 0; i < len; i++)
        w = put(wire, w, payload[i]);
    for (i = 0; i < HP_CRC_BYTES; i++)
        w = put(wire, w, (uint8_t)(crc >> (8 * i)));
    return w;
}
