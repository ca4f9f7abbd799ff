"""Integer primitives and fixed formats of docs/fixed-point.md (section numbers refer to it).

These functions are the NumPy twins of the `static inline` helpers in firmware/hypr/hypr_fixed.h and carry the
same names. They work on int64 arrays (or Python ints); every caller keeps operands inside the bounds that
the spec proves, so no int64 product can wrap (numpy would wrap silently, C would be undefined).
"""
from __future__ import annotations

import math

import numpy as np

try:   # the clip ufunc itself: np.clip's Python-level dispatch costs more than the clipping on small arrays
    from numpy._core.umath import clip as _clip
except ImportError:                                   # NumPy < 2 (or a private module that moved): the public one
    _clip = np.clip

# §2 fixed formats (fractional bits) that do not depend on the model
FA = 24            # constants, Jacobian entries A, surrogate psi, g, Phi products: Q8.24 in int32
FQ = 20            # learning signals eps, L, l, q and chunk gradients G: Q.20
FEO = 14           # readout eligibilities (values in [0, 1]): int16 Q1.14
A_MAX = (1 << 28) - 1          # |A|, |g| saturate here (real 16) so that 3 products with int32 stay < 2^62
I32_MAX = (1 << 31) - 1
G_MAX = (1 << 47) - 1          # chunk gradient saturates here so that G * lr_mant (< 2^15) stays < 2^62
G1_MAX = (1 << 38) - 1         # sum_t q x >> fx saturates here before the product with c0 (<= 2^24)
LUT_BITS = 8                   # 256 linear segments in every lookup table
LUT_SIZE = (1 << LUT_BITS) + 1
XORSHIFT_DEFAULT_SEED = 0x2545F491
ELIG_BITS = (16, 8)            # storage of the hidden eligibilities (§2, §2.1): int16 (the default) or int8


def rshift_round(v, s: int):
    """Round half up: (v + 2^(s-1)) >> s with an arithmetic shift (floor), s >= 0."""
    if s == 0:
        return v
    return (v + (1 << (s - 1))) >> s


def sat(v, lo: int, hi: int, out=None):
    """Clamp to [lo, hi] (lo <= hi); out: write there (out=v: in place)."""
    return _clip(v, lo, hi, out=out)


def sat_sym(v, m: int, out=None):
    """Clamp to [-m, m]."""
    return _clip(v, -m, m, out=out)


def sat16(v):
    return sat(v, -32768, 32767)


def elig_bounds(bits: int) -> tuple[int, int]:
    """The range a hidden eligibility saturates to when stored in `bits` bits (§2.1): [-2^(b-1), 2^(b-1) - 1]."""
    if bits not in ELIG_BITS:
        raise ValueError(f"eligibility bits {bits!r}; expected one of {ELIG_BITS}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def sat32(v, out=None):
    return _clip(v, -(1 << 31), I32_MAX, out=out)


def align(v, f_from: int, f_to: int):
    """Change the Q format: exact multiply by a power of two going up, rshift_round going down."""
    if f_to >= f_from:
        return v * (1 << (f_to - f_from))
    return rshift_round(v, f_from - f_to)


def to_q(x, f: int):
    """Float -> nearest integer at 2^-f (host side only, never on the device path)."""
    return np.round(np.asarray(x, dtype=np.float64) * (1 << f)).astype(np.int64)


# §6 lookup tables ----------------------------------------------------------------------------------------

def psi_table(surrogate) -> np.ndarray:
    """psi at |h| = i * 2^(R-8), i = 0..256, in Q.FA, for a hypr_edge.neurons Surrogate (R = its range_log2).
    The float function is evaluated once on the grid; the device and the emulator only ever see the table."""
    grid = np.arange(LUT_SIZE) * 2.0 ** (surrogate.range_log2 - LUT_BITS)
    return to_q(surrogate.numpy_fn(grid), FA)


def psi_shift(surrogate, fs: int) -> int:
    """Bits of |h| (Q.fs) below one table segment."""
    return fs + surrogate.range_log2 - LUT_BITS


def exp2_table() -> np.ndarray:
    """2^(-i/256), i = 0..256, in Q.30."""
    return to_q(2.0 ** (-np.arange(LUT_SIZE) / (1 << LUT_BITS)), 30)


LOG2E_Q = int(to_q(1.0 / math.log(2.0), FA))


def lut_interp(table: np.ndarray, a, shift: int):
    """Piecewise-linear table lookup at a >= 0: segment a >> shift, fraction a mod 2^shift; clamps at the end.
    a past the last segment is clamped to its end, where the fraction is 0 and the next entry is the last one again
    (np.take clips the index): the value there is table[LUT_SIZE - 1]."""
    a = np.minimum(a, (LUT_SIZE - 1) << shift)
    idx = a >> shift
    fr = a & ((1 << shift) - 1)
    lo = table[idx]
    step = np.take(table, idx + 1, mode="clip")
    step -= lo
    step *= fr
    if shift:
        step += 1 << (shift - 1)
        step >>= shift
    step += lo
    return step


def psi_eval(table: np.ndarray, h, shift: int):
    return lut_interp(table, np.abs(np.asarray(h, dtype=np.int64)), shift)


def softmax_eps(o, label, fs: int, e2: np.ndarray):
    """§6.2: eps = softmax(o) - onehot(label) in Q.FQ; o (..., C) int64 Q.fs, label (...) int (< 0: no loss)."""
    o = np.asarray(o, dtype=np.int64)
    d = o - o.max(axis=-1, keepdims=True)                  # <= 0
    t = rshift_round(-d * LOG2E_Q, FA)                      # -(d log2 e) in Q.fs, >= 0
    ip = t >> fs
    fp = t & ((1 << fs) - 1)
    m = lut_interp(e2, fp, fs - LUT_BITS)                  # 2^(-frac) in Q.30
    ex = m >> np.minimum(ip, 31)                           # 2^(-t) in Q.30, floor (0 <= m <= 2^30: 0 from ip 31 on)
    total = ex.sum(axis=-1, keepdims=True)                 # >= 2^30 (the max term is exactly 2^30)
    p = (ex << FQ) // total                                 # both >= 0: floor division equals C's
    label = np.asarray(label)
    onehot = (np.arange(o.shape[-1]) == label[..., None]).astype(np.int64) << FQ
    eps = p - onehot
    return np.where((label >= 0)[..., None], eps, 0)


# §7 PRNG -------------------------------------------------------------------------------------------------

def xorshift32(x):
    """One step of Marsaglia's xorshift32 (13, 17, 5) on uint32 values held in int64/uint64 arrays."""
    m = 0xFFFFFFFF
    x = np.asarray(x, dtype=np.uint64)
    x = x ^ ((x << np.uint64(13)) & np.uint64(m))
    x = x ^ (x >> np.uint64(17))
    x = x ^ ((x << np.uint64(5)) & np.uint64(m))
    return x


def gf2_apply(cols: list[int], x: int) -> int:
    """The 32x32 bit matrix with columns `cols` applied to the 32-bit state x (XOR of the columns of its set bits)."""
    r = 0
    for j in range(32):
        if (x >> j) & 1:
            r ^= cols[j]
    return r


def xorshift32_jump(steps: int) -> list[int]:
    """xorshift32 is linear over GF(2): `steps` draws are a 32x32 bit matrix; its columns, cols[j] = the state `steps`
    draws after the state 1 << j (square-and-multiply). gf2_apply(cols, x) jumps x ahead by `steps` draws."""
    result = [1 << j for j in range(32)]
    power = [int(v) for v in xorshift32([1 << j for j in range(32)])]   # one draw
    while steps:
        if steps & 1:
            result = [gf2_apply(power, c) for c in result]
        power = [gf2_apply(power, c) for c in power]
        steps >>= 1
    return result


_ROWS_CACHE: dict[int, np.ndarray] = {}
_ROWS_BLOCK = 256


def _jump_rows(k: int) -> np.ndarray:
    """rows[j, i]: the (i+1)-th output (i = 0..k-1) of xorshift32 started from the unit state 1 << j, (32, k) uint32,
    built in blocks of _ROWS_BLOCK steps that advance together, each from its start M^(aR) e_j (xorshift32_jump), so
    that the sequential part is short."""
    if k not in _ROWS_CACHE:
        R = min(k, _ROWS_BLOCK)
        n_blocks = -(-k // R)
        starts = np.array([xorshift32_jump(a * R) for a in range(n_blocks)], dtype=np.uint64)   # (blocks, 32)
        out = np.empty((R, n_blocks, 32), dtype=np.uint64)
        s = starts
        for i in range(R):                                    # all blocks advance together
            s = xorshift32(s)
            out[i] = s
        rows = out.transpose(2, 1, 0).reshape(32, n_blocks * R)[:, :k]
        _ROWS_CACHE.clear()
        _ROWS_CACHE[k] = np.ascontiguousarray(rows, dtype=np.uint32)
    return _ROWS_CACHE[k]


_DIGIT_CACHE: dict[int, tuple[int, np.ndarray]] = {}
_DIGIT_TABLE_BYTES = 1 << 25       # 32 MiB: above it, one table row per seed bit (twice the XORs, 1/16 the memory)


def _jump_digit_tables(k: int) -> tuple[int, np.ndarray]:
    """(b, T): T[p, v] = the XOR of the _jump_rows(k) rows of the set bits of v << (b p), so the draws from a state
    are the XOR of T[p, digit p of the state] over its 32/b base-2^b digits: b = 4 (8 XORs) where the (8, 16, k)
    table fits _DIGIT_TABLE_BYTES, else b = 1. The uint32 draws are stored in pairs as uint64 (half the XOR calls
    over the same bytes); an odd k gets one padding column."""
    if k not in _DIGIT_CACHE:
        rows = _jump_rows(k)
        words = np.zeros((32, k + k % 2), dtype=np.uint32)
        words[:, :k] = rows
        words = words.view(np.uint64)                                   # (32, ceil(k/2))
        b = 4 if 8 * 16 * words.nbytes // 32 <= _DIGIT_TABLE_BYTES else 1
        tables = np.zeros((32 // b, 1 << b, words.shape[1]), dtype=np.uint64)
        for p in range(32 // b):
            for v in range(1, 1 << b):
                low = (v & -v).bit_length() - 1                          # lowest set bit of v
                np.bitwise_xor(tables[p, v & (v - 1)], words[b * p + low], out=tables[p, v])
        _DIGIT_CACHE.clear()
        _DIGIT_CACHE[k] = (b, tables)
    return _DIGIT_CACHE[k]


def xorshift32_draws(state: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The next k outputs of each stream's generator, (B, k) uint32, and the new states (B,) uint64."""
    state = np.asarray(state, dtype=np.uint64)
    if k == 0:
        return np.zeros((state.shape[0], 0), dtype=np.uint32), state
    b, tables = _jump_digit_tables(k)
    mask = (1 << b) - 1
    out = np.zeros((state.shape[0], tables.shape[2]), dtype=np.uint64)
    for i, x in enumerate(int(v) for v in state):   # xorshift32 is linear over GF(2): XOR of the digits' rows
        for p in range(32 // b):
            digit = (x >> (b * p)) & mask
            if digit:
                out[i] ^= tables[p, digit]
    out = out.view(np.uint32)[:, :k]
    return out, out[:, -1].astype(np.uint64)


def stochastic_shift(v, r, s: int):
    """§7.2: floor((v + r') / 2^s) with r' the top s bits of the 32-bit draw r (s <= 32) or r << (s - 32)."""
    if s == 0:
        return v
    r = np.asarray(r)
    if s <= 32 and r.dtype == np.uint32:           # the emulator's draws: shift them as they are
        return (v + (r >> np.uint32(32 - s))) >> s
    r = r.astype(np.uint64)
    rr = (r >> np.uint64(32 - s)) if s <= 32 else (r << np.uint64(s - 32))
    return (v + rr.astype(np.int64)) >> s
