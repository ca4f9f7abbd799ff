"""SpiNNaker target (docs/spinnaker.md): the K-core host machine simulator, with the readout on a hidden core or on
its own, is bit-identical to the single-core emulator (every state, spike, output and weight after every update) for
inference and on-device HYPR learning; oversized models are refused with the smallest K that fits."""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest

from hypr_edge.codegen.verify import compare, run_emulator
from hypr_edge.fixed.random_models import random_qmodel, random_streams
from hypr_edge.neurons import NEURONS
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


def _sim(qm, streams, k, readout="separate", stats=False):
    with tempfile.TemporaryDirectory() as tmp:
        p, _ = generate_spinnaker(qm, tmp, k, readout=readout)
        assert p.k == k and p.n_cores == (k if readout == "auto" else k + 1)   # tiny models: the readout shares
        return run_sim(build_sim(tmp, p.n_cores), qm, streams, tmp, stats=stats)


@pytest.mark.parametrize("k,readout", [(1, "auto"), (2, "auto"), (3, "auto"), (7, "auto"), (1, "separate"),
                                       (3, "separate")])
@pytest.mark.parametrize("neuron,case", [(NEURONS[c % len(NEURONS)], c) for c in range(max(5, len(NEURONS)))])
def test_k_cores_equal_single_core(neuron, case, k, readout):
    """K=1 with the readout shared is one core doing everything; uneven splits (the shared core takes fewer)."""
    qm, streams = _model_and_streams(neuron, k, case)
    sim = _sim(qm, streams, k, readout)
    emu = run_emulator(qm, streams)
    bad = compare(sim, emu)
    assert bad is None, f"{neuron} K={k} readout {readout} case {case}: {bad}"
    n_updates = -(-len(streams[0].x) // qm.chunk)
    assert len(emu[0]["weights"]) == n_updates and len(emu[2]["weights"]) == 0   # learning, then inference
    if case % 2 == 0:   # calibrated models: the weights really moved (extreme ones may round every step to 0)
        assert any(not np.array_equal(w[1], qm.wo) for w in emu[0]["weights"])


@pytest.mark.parametrize("readout", ["auto", "separate"])
def test_wrong_draw_order_is_caught(monkeypatch, readout):
    """Control: without the per-core PRNG jump (every core drawing from the seed) the weights differ."""
    qm, streams = _model_and_streams("brf", 3, 0)
    monkeypatch.setattr(partition, "draw_offsets", lambda p: [(0, 0)] * p.n_cores)
    import hypr_edge.spinnaker.generate as gen
    monkeypatch.setattr(gen, "draw_offsets", partition.draw_offsets)
    bad = compare(_sim(qm, streams, 3, readout), run_emulator(qm, streams))
    assert bad is not None   # first seen in a state or weight after the first update


def test_packets_cross_cores():
    """A core delivers to itself locally: one core doing everything sends nothing; with the readout shared, the
    learning signals of its own neurons stay on it, and what is sent is what the routing table carries."""
    qm, streams = _model_and_streams("lif", 2, 0)
    _, one = _sim(qm, streams, 1, "auto", stats=True)
    assert [c["sent"] for c in one["cores"].values()] == [0] and one["host"] > 0
    _, shared = _sim(qm, streams, 2, "auto", stats=True)
    _, separate = _sim(qm, streams, 2, "separate", stats=True)
    assert shared["cores"]["hidden1+readout"]["sent"] < separate["cores"]["readout"]["sent"]
    for counts in (shared, separate):
        assert sum(c["sent"] for c in counts["cores"].values()) > 0


def test_jump_columns_match_xorshift():
    from hypr_edge.fixed.spec import gf2_apply, xorshift32, xorshift32_draws, xorshift32_jump
    state = np.array([0x12345678], dtype=np.uint64)
    draws, _ = xorshift32_draws(state, 1000)
    for j in (1, 7, 1000):
        assert gf2_apply(xorshift32_jump(j), 0x12345678) == int(draws[0, j - 1])
    assert gf2_apply(xorshift32_jump(0), 0x12345678) == 0x12345678
    s = np.array([0x12345678], dtype=np.uint64)   # the draws against step-by-step xorshift32, across 256-step blocks
    for i in range(600):
        s = xorshift32(s)
        assert int(s[0]) == int(draws[0, i])


def test_refuses_too_large_with_smallest_k():
    rng = np.random.default_rng(0)
    qm = random_qmodel(rng, "alif", 80, 120, 12, True, 8, "all")
    budget = 64 * 1024                                   # SpiNNaker 1 data memory
    for readout in ("auto", "separate"):
        auto = plan(qm, None, budget, readout)
        assert auto.k > 1 and (readout == "auto" or not auto.shared)
        with pytest.raises(PartitionError, match=f"at least {auto.k} hidden cores"):
            plan(qm, auto.k - 1, budget, readout)
        for c in range(auto.n_cores):                    # the chosen split really fits
            assert auto.need(c) <= budget
        assert plan(qm, auto.k + 1, budget, readout).n0[-1] == 120


def test_readout_shares_a_core_when_it_fits():
    """The readout goes on the last hidden core, which takes fewer neurons; when no split makes room it gets a
    core of its own; the fewest cores win (BRF 80-120-12 learning at chunk 8: two 128 KB cores)."""
    rng = np.random.default_rng(0)
    qm = random_qmodel(rng, "brf", 80, 120, 12, True, 8, "all")
    p = plan(qm)
    assert (p.k, p.n_cores, p.shared, p.readout_core) == (2, 2, True, 1)
    assert p.sizes(1) < p.sizes(0) and max(p.need(c) for c in range(2)) <= p.budget
    with pytest.raises(PartitionError, match="at least 2 hidden cores"):
        plan(qm, 1)
    assert plan(qm, None, p.budget, "separate").n_cores == 3
    shared, separate = partition._layout(qm, 2, True)[1], partition._layout(qm, 2, False)[1]
    assert separate < shared                              # a budget in between: no room for the readout
    q = plan(qm, 2, separate)
    assert not q.shared and q.n_cores == 3


def test_cli_generate(tmp_path):
    from hypr_edge.cli import main
    qm = random_qmodel(np.random.default_rng(1), "lif", 4, 5, 2, True, 4, "all")
    qm.save(tmp_path / "m.npz")
    out = tmp_path / "sp"
    assert main(["generate", str(tmp_path / "m.npz"), "--target", "spinnaker", "--cores", "2", "-o", str(out),
                 "--build"]) == 0
    assert (out / "core_1.c").exists() and not (out / "core_2.c").exists() and (out / "spin_sim").exists()
    assert "2 core(s): 2 hidden, the readout on core 1" in (out / "memory.txt").read_text()


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("learn", ["all", "readout"])
def test_images_build_for_arm(tmp_path, learn):
    """Every kind of image (hidden, hidden + readout, readout alone) compiles for ARM968 and Cortex-M4F under
    -Wall -Wextra -Werror."""
    from hypr_edge.spinnaker.generate import arm_sizes
    qm = random_qmodel(np.random.default_rng(2), "alif", 4, 6, 2, learn == "all", 4, learn)
    for k, readout in ((2, "auto"), (1, "separate")):
        out = tmp_path / f"{k}{readout}"
        p, _ = generate_spinnaker(qm, out, k, readout=readout)
        sizes = arm_sizes(out, p.n_cores)
        assert all(len(v) == p.n_cores for v in sizes.values())
