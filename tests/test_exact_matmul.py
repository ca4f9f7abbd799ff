"""The emulator's integer matrix product (_exact_matmul): float64 where every partial sum stays below 2^53, int64
otherwise, and in both cases the exact integer result."""
from __future__ import annotations

import numpy as np

from hypr_edge.fixed.emulator import _exact_matmul


def test_equals_the_int64_product_at_the_float64_limit_and_beyond():
    rng = np.random.default_rng(0)
    # int16 weights and inputs at their extremes, K = 2^22 terms' worth of bound: K * 2^30 = 2^52 < 2^53 (float64)
    a = rng.choice([-(1 << 15), (1 << 15) - 1], size=(3, 7, 64)).astype(np.int64)
    b = rng.choice([-(1 << 15), (1 << 15) - 1], size=(3, 64, 5)).astype(np.int64)
    assert np.array_equal(_exact_matmul(a, b, 1 << 15, 1 << 15), np.matmul(a, b))
    # past 2^53 float64 rounds (2^54 + 1 is not a float64): the bound check must take the int64 product
    q = np.array([[[1 << 52, 1 << 52, 1]]], np.int64)
    x = np.array([[[2], [2], [1]]], np.int64)
    want = np.matmul(q, x)
    assert want[0, 0, 0] == (1 << 54) + 1
    assert int(np.matmul(q.astype(np.float64), x.astype(np.float64))[0, 0, 0]) != int(want[0, 0, 0])
    assert np.array_equal(_exact_matmul(q, x), want)
