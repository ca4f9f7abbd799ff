"""The learning-state store (firmware/src/store.c) under power cuts: compiled for the host with a generated model
library and a file as its non-volatile storage (NOR-flash semantics), cut after every byte a save writes
(tests/fixtures/store_harness.c); after every cut the board boots the old state or the new one, never a mix or
nothing, and the store keeps working. The QEMU half (a real restart from the semihosting file) is in
tests/test_checkpoint.py."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.codegen.render import render_library
from hypr_edge.fixed.learning_state import image_size
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.host import protocol
from hypr_edge.resources import firmware_dir

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
FIXTURES = Path(__file__).parent / "fixtures"
CFLAGS = ["-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover"]


def build_harness(qm, d):
    render_library(qm, d)
    (d / "hypr_proto_defs.h").write_text(protocol.c_header())
    src = firmware_dir() / "src"
    exe = d / "store_harness"
    subprocess.run(["gcc", *CFLAGS, f"-I{d}", f"-I{src}", "-o", str(exe), str(d / "hypr_model.c"),
                    str(src / "store.c"), str(src / "proto.c"), str(FIXTURES / "store_harness.c")], check=True)
    return exe


@pytest.mark.parametrize("neuron,learn,chunk,k", [("brf", "all", 5, (7, 13, 20)), ("lif", "readout", 4, (6, 12, 16))])
def test_power_cut_after_every_byte_boots_old_or_new(neuron, learn, chunk, k, tmp_path):
    rng = np.random.default_rng(3)
    qm = random_qmodel(rng, neuron, 3, 6, 2, True, chunk, learn)
    exe = build_harness(qm, tmp_path)
    x = qm.quantize_inputs((rng.random((k[2], qm.n_in)) < 0.5) * 1.0).astype("<i2")
    y = rng.integers(0, qm.n_out, k[2]).astype("<i4")
    steps = b"".join(x[t].tobytes() + y[t].tobytes() for t in range(k[2]))
    (tmp_path / "in.bin").write_bytes(struct.pack("<3I", *k) + steps)
    out = subprocess.run([str(exe), str(tmp_path / "nv.bin"), str(tmp_path / "in.bin")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    rows = {m[0]: dict(zip(("bytes", "old", "new", "other", "chain_fail", "first_new"), map(int, m[1:])))
            for m in re.findall(r"scenario (\w+) bytes (\d+) old (\d+) new (\d+) other (\d+) chain_fail (\d+) "
                                r"first_new (-?\d+)", out.stdout)}
    assert set(rows) == {"empty", "one", "two", "torn"}, out.stdout
    image = image_size(qm)
    for name, r in rows.items():
        assert r["bytes"] == 2 * (16 + image), (name, r)        # erase and write of slot head + image
        assert r["other"] == 0 and r["chain_fail"] == 0, (name, r)
        assert r["old"] + r["new"] == r["bytes"] + 1, (name, r)  # every cut position, 0..bytes
        assert r["first_new"] == r["bytes"], (name, r)          # new only once the magic's last byte is written
