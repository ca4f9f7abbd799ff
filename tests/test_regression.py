"""The v2 restructuring changed no result: for fixed models and streams recorded on the code before it
(tests/fixtures/make_regression.py), today's emulator and today's compiled C give the same states, spikes,
outputs and weights bit for bit."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.codegen.build import build_host
from hypr_edge.targets.registry import generate
from hypr_edge.codegen.verify import Stream, compare, run_c, run_emulator
from hypr_edge.fixed.quantize import QuantizedModel

FIXTURES = Path(__file__).parent / "fixtures" / "regression"
CASES = sorted(p.name[:-len(".q.npz")] for p in FIXTURES.glob("*.q.npz"))


def load_case(name):
    qm = QuantizedModel.load(FIXTURES / f"{name}.q.npz")
    with np.load(FIXTURES / f"{name}.traces.npz") as z:
        a = {k: z[k] for k in z.files}
    streams, recorded = [], []
    k = 0
    while f"s{k}_x" in a:
        learn, seed = (int(v) for v in a[f"s{k}_meta"])
        streams.append(Stream(a[f"s{k}_x"], a[f"s{k}_labels"], bool(learn), seed))
        weights, u = [], 0
        while f"s{k}_wo{u}" in a:
            weights.append((a.get(f"s{k}_w{u}"), a[f"s{k}_wo{u}"]))
            u += 1
        recorded.append({"states": a[f"s{k}_states"], "spikes": a[f"s{k}_spikes"], "outputs": a[f"s{k}_outputs"],
                         "weights": weights})
        k += 1
    return qm, streams, recorded


def test_fixture_present():
    assert len(CASES) == 10


@pytest.mark.parametrize("name", CASES)
def test_emulator_reproduces_recorded_traces(name):
    qm, streams, recorded = load_case(name)
    bad = compare(run_emulator(qm, streams), recorded)
    assert bad is None, f"{name}: {bad}"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("name", CASES)
def test_c_reproduces_recorded_traces(name):
    qm, streams, recorded = load_case(name)
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp, "host")
        c_res = run_c(build_host(tmp), qm, streams, tmp)
    bad = compare(c_res, recorded)
    assert bad is None, f"{name}: {bad}"
