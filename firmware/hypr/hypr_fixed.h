/* Fixed-point primitives of docs/fixed-point.md: §1 integer arithmetic, §6 lookup tables and the softmax, §7 the
 * PRNG and stochastic rounding. Plain C99 with no model data; each function has a NumPy twin of the same name in
 * hypr_edge/fixed/spec.py (tests/test_c_primitives.py runs both). The spec's constants come from hypr_spec.h. */
#ifndef HYPR_FIXED_H
#define HYPR_FIXED_H

#include <stdint.h>
#include <string.h>
#include "hypr_spec.h"
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#endif

/* §1: the arithmetic relies on >> of a negative value being an arithmetic (floor) shift, which C99 leaves
 * implementation-defined; refuse to compile where it is not. */
typedef char hypr_arith_shift_check[((-3) >> 1) == -2 ? 1 : -1];

/* compiler hints --------------------------------------------------------------------------------------- */
/* UNROLL_D before a loop over the d <= 3 state entries: unrolled completely (gcc -O2 does not by itself) */
#if defined(__clang__)
#define UNROLL_D _Pragma("unroll")
#define UNROLL_16 _Pragma("unroll 16")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define UNROLL_D _Pragma("GCC unroll 3")
#define UNROLL_16 _Pragma("GCC unroll 16")   /* before a short loop of a model-constant count (outputs, words) */
#else
#define UNROLL_D
#define UNROLL_16
#endif
#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#define LIKELY(c) __builtin_expect(!!(c), 1)   /* the common case of a saturation test: laid out to fall through */
#define HIDE(v) __asm__("" : "+r"(v))          /* v's value from here on unknown to gcc: it stays in a register */
#else
#define HIDE(v) ((void)0)
#define NOINLINE
#define LIKELY(c) (c)
#endif

/* §1 integer primitives -------------------------------------------------------------------------------- */
/* round half up: (v + 2^(s-1)) >> s, s >= 0 */
static inline int64_t rshift_round(int64_t v, int s) { return s == 0 ? v : (v + ((int64_t)1 << (s - 1))) >> s; }
/* sat: v when lo <= v <= hi (one unsigned comparison: the usual case), else the nearer bound */
static inline int64_t sat(int64_t v, int64_t lo, int64_t hi)
{
    return (uint64_t)v - (uint64_t)lo <= (uint64_t)hi - (uint64_t)lo ? v : v < lo ? lo : hi;
}
static inline int64_t sat_sym(int64_t v, int64_t m) { return sat(v, -m, m); }
/* a * b in int64, for operands that the spec bounds to int32 (every caller's are; a wider value would not convert
 * exactly): one 32x32->64 multiply. The empty asm hides what gcc knows of their ranges, which otherwise makes it
 * drop the conversions and multiply 64x64. */
static inline int64_t mul32(int32_t a, int32_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(a), "+r"(b));
#endif
    return (int64_t)a * b;
}
/* a * b for an int32 b: b is hidden from gcc too, so a constant b costs a multiply, not a chain of shifts and adds */
static inline int64_t mul64_32(int64_t a, int32_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(b));
#endif
    return a * b;
}
/* acc + v for sums of int32 terms: on the v7E-M cores (Cortex-M4/M7) one SMLAL by 1 (one instruction and cycle)
 * instead of ADDS + ADC; the same value wherever the sum fits int64 (every caller's: < 2^8 terms) */
static inline int64_t add64_32(int64_t acc, int32_t v)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
    __asm__("smlal %Q0, %R0, %1, %2" : "+r"(acc) : "r"(v), "r"(1));
    return acc;
#else
    return acc + v;
#endif
}
static inline int64_t sat16(int64_t v) { return sat(v, -32768, 32767); }
static inline int64_t sat32(int64_t v) { return sat(v, -2147483647LL - 1, 2147483647LL); }
/* sat32(r >> s) for 1 <= s <= 31, with one test of the high word (the usual case: no saturation): r >> s fits
 * int32 exactly when the high word of r lies in [-2^(s-1), 2^(s-1)) */
static inline int32_t shift_sat32(int64_t r, int s)
{
    const uint32_t hi = (uint32_t)((uint64_t)r >> 32);
    if (LIKELY(hi + (1u << (s - 1)) < (1u << s))) return (int32_t)(((uint32_t)(uint64_t)r >> s) | (hi << (32 - s)));
    return r < 0 ? INT32_MIN : INT32_MAX;
}
/* sat32(rshift_round(v, s)) for 0 <= s <= 31 = shift_sat32(v + 2^(s-1), s); a caller that sums products may start
 * its accumulator at 2^(s-1) (ROUND_HALF) and call shift_sat32 itself */
#define ROUND_HALF(s) ((int64_t)1 << ((s) - 1))
static inline int32_t round_sat32(int64_t v, int s)
{
    return s == 0 ? (int32_t)sat32(v) : shift_sat32(v + ((int64_t)1 << (s - 1)), s);
}
/* sat_sym(v, m) of an int32 v, 0 <= m < 2^31: one unsigned comparison in the usual case, as sat() */
static inline int32_t sat_sym32(int32_t v, int32_t m)
{
    return LIKELY((uint32_t)v + (uint32_t)m <= 2u * (uint32_t)m) ? v : v < 0 ? -m : m;
}
/* sat_sym(rshift_round(v, s), m) for 0 <= s <= 31, 0 <= m < 2^31: equal to sat_sym32(round_sat32(v, s), m), since
 * saturating first to the int32 range, which contains [-m, m], changes no result */
static inline int32_t round_sat_sym(int64_t v, int s, int32_t m) { return sat_sym32(round_sat32(v, s), m); }
/* change the Q format from f_from to f_to fractional bits: exact going up, rshift_round going down */
static inline int64_t align(int64_t v, int f_from, int f_to)
{
    return f_to >= f_from ? v * ((int64_t)1 << (f_to - f_from)) : rshift_round(v, f_from - f_to);
}

/* §6 lookup tables ------------------------------------------------------------------------------------- */
/* piecewise-linear lookup in a table of 2^LUT_BITS + 1 entries at a >= 0: segment a >> shift, fraction
 * a mod 2^shift; past the last segment, the last entry */
static inline int64_t lut_interp(const int32_t *table, int64_t a, int shift)
{
    int64_t idx = a >> shift, lo;
    if (idx >= (1 << LUT_BITS)) return table[1 << LUT_BITS];
    lo = table[idx];
    return lo + rshift_round((table[idx + 1] - lo) * (a & (((int64_t)1 << shift) - 1)), shift);
}

/* §6.2: eps = softmax(o) - onehot(label) in Q.FQ for the n outputs o (Q.fs); label < 0: no loss, eps = 0.
 * exp2_lut: 2^(-i / 2^LUT_BITS) in Q.30. The terms 2^(-t) (<= 2^30) wait in eps until the total is known. */
static inline void softmax_eps(const int32_t *o, int n, int label, int fs, const int32_t *exp2_lut, int32_t *eps)
{
    int c;
    int64_t mx = o[0], total = 0;
    for (c = 1; c < n; c++) if (o[c] > mx) mx = o[c];
    for (c = 0; c < n; c++) {
        int64_t t = rshift_round(-((int64_t)o[c] - mx) * LOG2E_Q, FA);
        int64_t ip = t >> fs, m = lut_interp(exp2_lut, t & (((int64_t)1 << fs) - 1), fs - LUT_BITS);
        eps[c] = ip < 31 ? (int32_t)(m >> ip) : 0;
        total += eps[c];
    }
    for (c = 0; c < n; c++)
        eps[c] = label < 0 ? 0
               : (int32_t)(((int64_t)eps[c] * ((int64_t)1 << FQ)) / total - (c == label ? ((int64_t)1 << FQ) : 0));
}

/* §7 PRNG and stochastic rounding ---------------------------------------------------------------------- */
/* §7.1 the state after x (nonzero): Marsaglia's xorshift32 (13, 17, 5); the draw is the new state */
static inline uint32_t xorshift32(uint32_t x)
{
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return x;
}
/* §7.2 floor((v + r') / 2^s), r' = the top s bits of the 32-bit draw r (s <= 32) or r << (s - 32) */
static inline int64_t stochastic_shift(int64_t v, uint32_t r, int s)
{
    int64_t rr;
    if (s == 0) return v;
    rr = s <= 32 ? (int64_t)(r >> (32 - s)) : (int64_t)((uint64_t)r << (s - 32));
    return (v + rr) >> s;
}

/* sum_i a[i] b[i] of two int16 vectors, exact in int64 (docs/fixed-point.md §5: every product is < 2^30 in
 * magnitude; two of them can reach 2^31, so the sum needs the 64-bit accumulator even for a pair). With the v6
 * SIMD instructions (Cortex-M4/M7) two products per SMLALD, from 32-bit loads of int16 pairs (unaligned loads
 * are allowed there); elsewhere one product per step. */
static inline int64_t dot16(const int16_t *a, const int16_t *b, int n)
{
    int64_t acc = 0;
    int i = 0;
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
    const int n8 = n & ~7;
    for (; i < n8; i += 8) {   /* eight products per iteration: the loop's own instructions are few */
        int32_t a0, a1, a2, a3, b0, b1, b2, b3;
        memcpy(&a0, a + i, 4); memcpy(&b0, b + i, 4);
        memcpy(&a1, a + i + 2, 4); memcpy(&b1, b + i + 2, 4);
        memcpy(&a2, a + i + 4, 4); memcpy(&b2, b + i + 4, 4);
        memcpy(&a3, a + i + 6, 4); memcpy(&b3, b + i + 6, 4);
        acc = __smlald(a0, b0, acc);
        acc = __smlald(a1, b1, acc);
        acc = __smlald(a2, b2, acc);
        acc = __smlald(a3, b3, acc);
    }
    for (; i < (n & ~1); i += 2) {
        int32_t a0, b0;
        memcpy(&a0, a + i, 4); memcpy(&b0, b + i, 4);
        acc = __smlald(a0, b0, acc);
    }
#endif
    for (; i < n; i++) acc += (int32_t)a[i] * b[i];
    return acc;
}

/* index of the lowest set bit of v != 0 */
static inline int lowest_bit(uint32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctz(v);
#else
    int b = 0;
    while (!(v & 1u)) { v >>= 1; b++; }
    return b;
#endif
}

#endif
