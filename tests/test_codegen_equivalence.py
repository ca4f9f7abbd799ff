"""Property test (docs/fixed-point.md): the emulator and the gcc-compiled C (with UBSan, -fno-sanitize-recover)
agree exactly on every state, spike, readout value and weight, after every step and every chunk update."""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypr_edge.codegen.build import build_host
from hypr_edge.targets.registry import generate
from hypr_edge.codegen.verify import compare, run_c, run_emulator
from hypr_edge.fixed.random_models import random_qmodel, random_streams
from hypr_edge.neurons import NEURONS

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
STREAMS_PER_MODEL = 4
CASES = {"n": 0}


@settings(max_examples=54, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(neuron=st.sampled_from(NEURONS), recurrent=st.booleans(),
       mode=st.sampled_from(["inference", "readout", "all"]), chunk=st.sampled_from([1, 2, 3, 5, 8, 13]),
       extreme=st.booleans(), sizes=st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(1, 4)),
       seed=st.integers(0, 2 ** 32 - 1))
def test_emulator_equals_c(neuron, recurrent, mode, chunk, extreme, sizes, seed):
    rng = np.random.default_rng(seed)
    n_in, n, n_out = sizes
    qm = random_qmodel(rng, neuron, n_in, n, n_out, recurrent, chunk, "readout" if mode == "readout" else "all",
                       extreme=extreme)
    # lengths that are not multiples of the chunk, and a 1-step stream
    steps = int(rng.choice([1, chunk * int(rng.integers(1, 4)) + int(rng.integers(1, chunk + 1)) - 1 or 1, 29]))
    streams = random_streams(rng, qm, STREAMS_PER_MODEL, steps, mode != "inference", extreme)
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        exe = build_host(tmp)
        c_res = run_c(exe, qm, streams, tmp)
    e_res = run_emulator(qm, streams)
    bad = compare(c_res, e_res)
    assert bad is None, f"{neuron} rec={recurrent} {mode} chunk={chunk} extreme={extreme}: {bad}"
    if mode != "inference":   # learning really happened: one update per (partial) chunk
        assert len(e_res[0]["weights"]) == -(-steps // chunk)
    CASES["n"] += len(streams)


def test_case_count():
    """Runs after the property test (file order): the floor of 200 compared streams per CI run."""
    if CASES["n"]:
        assert CASES["n"] >= 200, CASES["n"]


@pytest.mark.parametrize("neuron,chunk,n_hidden,extreme,seed", [
    ("brf", 32, 40, False, 7), ("lif", 33, 40, True, 3), ("lif", 33, 40, False, 1), ("alif", 64, 20, False, 9),
    ("brf", 70, 35, True, 9), ("adlif", 40, 30, False, 2), ("adlif", 40, 30, True, 3)])
def test_emulator_equals_c_long_chunks(neuron, chunk, n_hidden, extreme, seed):
    """Chunks beyond the property test's: the C keeps each neuron's spikes of a chunk in 32-bit words (one, or
    several for chunk > 32), and the update sums the spike columns over their spike steps only (sparse and dense
    spiking networks, seeds chosen so that they spike)."""
    rng = np.random.default_rng(seed)
    qm = random_qmodel(rng, neuron, 4, n_hidden, 3, True, chunk, "all", extreme=extreme)
    streams = random_streams(rng, qm, 2, 2 * chunk + 5, True, extreme)
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp), qm, streams, tmp)
    e_res = run_emulator(qm, streams)
    assert all(r["spikes"].any() for r in e_res), "no spikes: the spike columns would not be exercised"
    bad = compare(c_res, e_res)
    assert bad is None, f"{neuron} chunk={chunk}: {bad}"


# the single core's chunk update keeps two per-chunk tables on the stack only where each fits 512 words (2 KiB):
# every step's eps' (LAM * C words) and the chunk's spikes by step (LAM * ceil(N / 32) words); past that it takes the
# older paths (eps' per row, the replay's recurrent current one presynaptic neuron at a time). The limits, as the C
# states them:
STACK_TABLES = ("#define EPS_S_ON_STACK (LAM * C <= 512)", "#define ZT_ON_STACK (HYPR_RECURRENT && LAM * ZTW <= 512)")
# and the spikes entering each neuron's steps (one word per neuron) where N <= 512 and one word holds the chunk
ZIN_TABLE = "#define ZIN_ON_STACK (HYPR_RECURRENT && ZW == 1 && N <= 512)"


@pytest.mark.parametrize("neuron,seed", [("brf", 4), ("lif", 5), ("alif", 6)])
def test_emulator_equals_c_without_stack_tables(neuron, seed):
    """A size whose chunk exceeds both tables (4-250-8, chunk 70: 560 words each), learning all weights, so that the
    update takes the fallback paths."""
    from hypr_edge.codegen.render import kernel_dir
    update_c = (kernel_dir() / "hypr_update.h").read_text()
    assert all(line in update_c for line in STACK_TABLES), "the stack tables' limits changed: update this test"
    n_in, n_hidden, n_out, chunk = 4, 250, 8, 70
    assert chunk * n_out > 512 and chunk * -(-n_hidden // 32) > 512
    rng = np.random.default_rng(seed)
    qm = random_qmodel(rng, neuron, n_in, n_hidden, n_out, True, chunk, "all")
    streams = random_streams(rng, qm, 1, chunk + 9, True, False)
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp), qm, streams, tmp)
    e_res = run_emulator(qm, streams)
    assert e_res[0]["spikes"][:chunk].any(), "no spikes in the first chunk: the replay's fallback would not run"
    bad = compare(c_res, e_res)
    assert bad is None, f"{neuron}: {bad}"


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("recurrent,chunk,seed", [(True, 8, 11), (False, 5, 12), (True, 32, 13)])
def test_emulator_equals_c_with_stored_states(neuron, recurrent, chunk, seed):
    """The build option HYPR_STORE_STATES: the chunk update reads the states the forward steps stored instead of
    replaying them, with the same results (streams that end inside a chunk: the partial chunk's update too)."""
    from hypr_edge.codegen.build import HOST_CFLAGS
    rng = np.random.default_rng(seed)
    qm = random_qmodel(rng, neuron, 5, 24, 3, recurrent, chunk, "all")
    streams = random_streams(rng, qm, 2, 2 * chunk + 3, True, False)
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp, (*HOST_CFLAGS, "-DHYPR_STORE_STATES=1")), qm, streams, tmp)
    bad = compare(c_res, run_emulator(qm, streams))
    assert bad is None, f"{neuron} rec={recurrent} chunk={chunk}: {bad}"


@pytest.mark.parametrize("neuron,seed", [("brf", 14), ("alif", 16)])
def test_emulator_equals_c_without_the_spike_word_table(neuron, seed):
    """N = 520 > 512 with a one-word chunk (8 steps): the update sums each spike column from the per-neuron spike
    words and z_0 (the path of chunks longer than 32 steps) instead of the per-chunk table."""
    from hypr_edge.codegen.render import kernel_dir
    assert ZIN_TABLE in (kernel_dir() / "hypr_update.h").read_text(), "the table's limit changed: update this test"
    rng = np.random.default_rng(seed)
    qm = random_qmodel(rng, neuron, 2, 520, 2, True, 8, "all", extreme=True)
    streams = random_streams(rng, qm, 1, 21, True, True)
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp), qm, streams, tmp)
    e_res = run_emulator(qm, streams)
    assert e_res[0]["spikes"][:20].any(), "no spikes: the spike columns would not be exercised"
    bad = compare(c_res, e_res)
    assert bad is None, f"{neuron}: {bad}"
