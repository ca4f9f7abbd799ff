"""PRNG seeds (issue 10, item 9): a stream seed of 0 selects the model's seed in the emulator as hypr_seed(0) does
in the C, and stream seeds seed + k wrap in 32 bits (a model seed of 0xFFFFFFFF does not overflow)."""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest

from hypr_edge.cli import main
from hypr_edge.codegen.build import build_host
from hypr_edge.codegen.verify import Stream, compare, run_c, run_emulator
from hypr_edge.fixed.emulator import Emulator, prng_states, stream_seed
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.targets.registry import generate

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def learning_model(seed: int):
    qm = random_qmodel(np.random.default_rng(7), "lif", 3, 5, 2, True, 4, "all")
    qm.seed, qm.lr_mant, qm.lr_shift = seed, 32767, 20   # large SGD rounding shifts: the draws decide the weights
    qm.check()
    return qm


def test_seed_zero_selects_the_model_seed():
    qm = learning_model(0x1234567)
    assert list(prng_states(qm.seed, [0, 5, 0xFFFFFFFF], 3)) == [0x1234567, 5, 0xFFFFFFFF]
    assert list(prng_states(qm.seed, None, 2)) == [0x1234567, 0x1234567]
    for bad in ([-1], [1 << 32], [1.5]):
        with pytest.raises(ValueError):
            prng_states(qm.seed, bad, 1)
    rng = np.random.default_rng(0)
    x = qm.quantize_inputs((rng.random((1, 13, 3)) < 0.4) * 1.0)
    y = rng.integers(0, 2, (1, 13))
    zero, model, other = (Emulator(qm, 1, True, seeds=[s]).run(x, y) for s in (0, qm.seed, 99))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(zero["weights"], model["weights"]))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(zero["weights"], other["weights"]))


def test_stream_seeds_wrap_in_32_bits():
    assert stream_seed(0xFFFFFFFF, 0) == 0xFFFFFFFF
    assert stream_seed(0xFFFFFFFF, 1) == 0            # -> the model's seed, on both sides
    assert stream_seed(0xFFFFFFFE, 3) == 1


@needs_gcc
@pytest.mark.parametrize("model_seed", [0x2545F491, 0xFFFFFFFF])
def test_c_equals_emulator_for_stream_seed_zero_and_wrapping_seeds(model_seed):
    qm = learning_model(model_seed)
    rng = np.random.default_rng(1)
    streams = []
    for k, seed in enumerate([0, stream_seed(model_seed, 1), stream_seed(model_seed, 2), 12345]):
        x = qm.quantize_inputs((rng.random((11, 3)) < 0.4) * 1.0)
        streams.append(Stream(x, rng.integers(-1, 2, 11), True, seed))
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp), qm, streams, tmp)
    e_res = run_emulator(qm, streams)
    assert compare(c_res, e_res) is None
    assert len(e_res[0]["weights"]) >= 2                  # updates happened, with stochastic rounding


@needs_gcc
def test_verify_learn_with_model_seed_ffffffff(tmp_path, capsys):
    qm = learning_model(0xFFFFFFFF)
    qm.save(tmp_path / "m.q.npz")
    assert main(["verify", str(tmp_path / "m.q.npz"), "--learn", "--streams", "3", "--steps", "9"]) == 0
    assert "equal: 3 streams" in capsys.readouterr().out
