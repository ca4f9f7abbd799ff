"""The memory report (hypr_edge/codegen/memory.py) counts every writable static of the generated library: its RAM
total equals the sum of the .bss/.data symbol sizes of the compiled object, for each model and learning mode."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.codegen.render import render_library
from hypr_edge.codegen.memory import memory_report, static_symbol_sizes
from hypr_edge.fixed.random_models import random_qmodel

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("nm") is None, reason="needs gcc, nm")


@pytest.mark.parametrize("neuron,recurrent,learn,chunk,sizes", [
    ("brf", True, "all", 8, (16, 64, 4)), ("brf", True, "all", 32, (3, 9, 2)), ("lif", False, "all", 5, (7, 13, 3)),
    ("alif", True, "readout", 13, (4, 10, 5)), ("brf", False, "readout", 1, (1, 1, 1))])
@pytest.mark.parametrize("store_states", [False, True])
def test_report_counts_every_static(neuron, recurrent, learn, chunk, sizes, store_states):
    """Also with the build option HYPR_STORE_STATES (its arrays exist only when the hidden layer learns)."""
    qm = random_qmodel(np.random.default_rng(0), neuron, *sizes, recurrent, chunk, learn)
    with tempfile.TemporaryDirectory() as tmp:
        render_library(qm, tmp)
        obj = Path(tmp) / "hypr_model.o"
        subprocess.run(["gcc", "-std=c99", "-O0", *(["-DHYPR_STORE_STATES=1"] if store_states else []), "-c",
                        "-o", str(obj), str(Path(tmp) / "hypr_model.c")], check=True)
        syms = static_symbol_sizes(obj)
    syms.pop("hypr_tensors", None)   # a const table of pointers: .data.rel.ro on a PIC host, flash on a device
    rep = memory_report(qm, code=False, store_states=store_states)
    assert rep.ram == sum(syms.values()), (rep.sizes, syms)
    assert (rep.stored_states > 0) == (learn == "all")
