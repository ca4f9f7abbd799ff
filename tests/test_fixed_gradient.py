"""The fixed-point HYPR gradient, dequantized, against float64 HYPR (hypr_edge.gradients) on the same quantized
network (docs/fixed-point.md §10). With the learning rate 0 the weights stay put, so the sum of the chunk
gradients over a stream is the gradient of the whole stream, eligibility carries included."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypr_edge.fixed.gradient_check import fixed_vs_float  # noqa: E402
from hypr_edge.neurons import NEURONS  # noqa: E402

COSINE_FLOOR = 0.99


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("recurrent", [True, False])
@pytest.mark.parametrize("chunk,steps", [(8, 8), (5, 23)])
def test_fixed_gradient_matches_float_hypr(neuron, recurrent, chunk, steps):
    worst, rates = 1.0, []
    for seed in range(3):
        r = fixed_vs_float(neuron, recurrent, chunk, steps, seed)
        assert r["readout"] >= COSINE_FLOOR, r
        if r["hidden_norm"] > 1e-9:          # a silent layer has no gradient to compare
            assert r["hidden"] >= COSINE_FLOOR, r
        worst = min(worst, r["all"])
        rates.append(r["rate"])
    assert worst >= COSINE_FLOOR
    assert max(rates) > 0.02, "the layer must spike for the test to exercise the spike terms of A"
