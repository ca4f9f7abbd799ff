"""SpiNNaker target (docs/spinnaker.md): the K-core host machine simulator is bit-identical to the single-core
emulator (every state, spike, output and weight after every update) for inference and on-device HYPR learning;
oversized models are refused with the smallest K that fits."""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest

from hypr_edge.codegen.verify import compare, run_emulator
from hypr_edge.fixed.random_models import random_qmodel, random_streams
from hypr_edge.spinnaker import partition
from hypr_edge.spinnaker.generate import build_sim, generate_spinnaker, run_sim
from hypr_edge.spinnaker.partition import PartitionError, plan

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
N_HIDDEN = 10   # K = 3 and 7 do not divide it


def _model_and_streams(neuron: str, k: int, case: int):
    rng = np.random.default_rng(1000 * k + case)
    extreme, recurrent = case % 2 == 1, case % 3 != 2
    learn = "readout" if case == 4 else "all"
    chunk = int(rng.choice([1, 3, 4]))
    qm = random_qmodel(rng, neuron, 3, N_HIDDEN, 3, recurrent, chunk, learn, extreme=extreme)
    steps = 3 * chunk + 2 if chunk > 1 else 7            # ends in a partial chunk
    streams = random_streams(rng, qm, 2, steps, True, extreme) + random_streams(rng, qm, 1, steps, False, extreme)
    return qm, streams


def _sim(qm, streams, k):
    with tempfile.TemporaryDirectory() as tmp:
        p, _ = generate_spinnaker(qm, tmp, k)
        assert p.k == k
        return run_sim(build_sim(tmp, p.n_cores), qm, streams, tmp)


@pytest.mark.parametrize("k", [1, 2, 3, 7])
@pytest.mark.parametrize("neuron,case", [("lif", 0), ("alif", 1), ("brf", 2), ("brf", 3), ("lif", 4)])
def test_k_cores_equal_single_core(neuron, case, k):
    qm, streams = _model_and_streams(neuron, k, case)
    sim = _sim(qm, streams, k)
    emu = run_emulator(qm, streams)
    bad = compare(sim, emu)
    assert bad is None, f"{neuron} K={k} case {case}: {bad}"
    n_updates = -(-len(streams[0].x) // qm.chunk)
    assert len(emu[0]["weights"]) == n_updates and len(emu[2]["weights"]) == 0   # learning, then inference
    if case % 2 == 0:   # calibrated models: the weights really moved (extreme ones may round every step to 0)
        assert any(not np.array_equal(w[1], qm.wo) for w in emu[0]["weights"])


def test_wrong_draw_order_is_caught(monkeypatch):
    """Control: without the per-core PRNG jump (every core drawing from the seed) the weights differ."""
    qm, streams = _model_and_streams("brf", 3, 0)
    monkeypatch.setattr(partition, "draw_offsets", lambda p: [(0, 0)] * p.n_cores)
    import hypr_edge.spinnaker.generate as gen
    monkeypatch.setattr(gen, "draw_offsets", partition.draw_offsets)
    bad = compare(_sim(qm, streams, 3), run_emulator(qm, streams))
    assert bad is not None   # first seen in a state or weight after the first update


def test_jump_columns_match_xorshift():
    from hypr_edge.fixed.spec import xorshift32_draws
    state = np.array([0x12345678], dtype=np.uint64)
    draws, _ = xorshift32_draws(state, 1000)
    for j in (1, 7, 1000):
        assert partition._apply(partition.jump_columns(j), 0x12345678) == int(draws[0, j - 1])
    assert partition._apply(partition.jump_columns(0), 0x12345678) == 0x12345678


def test_refuses_too_large_with_smallest_k():
    rng = np.random.default_rng(0)
    qm = random_qmodel(rng, "alif", 80, 120, 12, True, 8, "all")
    budget = 64 * 1024                                   # SpiNNaker 1 data memory
    auto = plan(qm, None, budget)
    assert auto.k > 1
    with pytest.raises(PartitionError, match=f"at least {auto.k} hidden cores"):
        plan(qm, auto.k - 1, budget)
    for c in range(auto.n_cores):                        # the chosen split really fits
        assert sum(auto.data_bytes(c).values()) + partition.CODE_RESERVE <= budget
    assert plan(qm, auto.k + 1, budget).n0[-1] == 120
    with pytest.raises(PartitionError, match="1..31"):   # 31 hidden cores + readout: 32-bit route bitmaps
        plan(qm, 121, 1 << 30)


def test_cli_generate(tmp_path):
    from hypr_edge.cli import main
    qm = random_qmodel(np.random.default_rng(1), "lif", 4, 5, 2, True, 4, "all")
    qm.save(tmp_path / "m.npz")
    out = tmp_path / "sp"
    assert main(["generate", str(tmp_path / "m.npz"), "--target", "spinnaker", "--cores", "2", "-o", str(out),
                 "--build"]) == 0
    assert (out / "core_2.c").exists() and (out / "spin_sim").exists()
    assert "3 cores" in (out / "memory.txt").read_text()
