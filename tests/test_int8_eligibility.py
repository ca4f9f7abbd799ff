"""Int8 hidden eligibilities (docs/fixed-point.md §2.1), the second storage format of the numeric contract:

- the quantizer chooses their scale by the same calibration as for int16, for the int8 range; the model file
  records the width (absent: 16, so int16 files and hashes are what they were) and refuses any other value;
- the emulator and the gcc-compiled C (UBSan, -fno-sanitize-recover) agree on the whole learning state (weights,
  int8 eligibilities, states, buffers, PRNG) after every learning step, for every neuron model of the registry,
  on calibrated models and on models whose eligibilities saturate (shown by the emulator's pre-saturation maximum);
- the learning-state image and checkpoint files round-trip; the memory report counts one byte per eligibility;
- the SpiNNaker build refuses such a model with one line; in QEMU (Cortex-M4) a learning stream is bit-exact.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess

import numpy as np
import pytest

from hypr_edge.checkpoint import Checkpoint
from hypr_edge.cli import main
from hypr_edge.codegen.memory import memory_report, static_symbol_sizes
from hypr_edge.codegen.render import render_library
from hypr_edge.fixed import learning_state as LS
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.qmodel import ModelFileError, QuantizedModel
from hypr_edge.fixed.quantize import quantize
from hypr_edge.fixed.random_models import random_qmodel, random_spec, random_streams
from hypr_edge.neurons import MODELS
from state_harness import build as build_harness, run_script

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def int8_model(neuron: str, extreme: bool, seed: int = 4, chunk: int = 5):
    """A calibrated int8 model, or (extreme) one with edge weights/constants and fe = 15: int8 eligibilities at
    2^-15 hold only |e| < 2^-8, so nearly every nonzero carry saturates."""
    rng = np.random.default_rng(seed)
    if not extreme:
        spec = random_spec(rng, neuron, 3, 7, 3, True)
        x = (rng.random((4, 24, 3)) < 0.3).astype(float)
        return quantize(spec, calib_x=x, chunk=chunk, learn="all", lr=0.05, eligibility_bits=8), rng
    qm = random_qmodel(rng, neuron, 3, 7, 3, True, chunk, "all", extreme=True)
    qm.eligibility_bits, qm.formats["fe"] = 8, 15
    qm.check()
    return qm, rng


# ---------------------------------------------------------------------------------------------- quantizer, file


def test_quantizer_calibrates_the_int8_scale_and_changes_nothing_else():
    rng = np.random.default_rng(0)
    spec = random_spec(rng, "lif", 4, 9, 3, True)
    x = (rng.random((6, 30, 4)) < 0.3).astype(float)
    q16 = quantize(spec, calib_x=x, chunk=8)
    q8 = quantize(spec, calib_x=x, chunk=8, eligibility_bits=8)
    assert q16.eligibility_bits == 16 and q8.eligibility_bits == 8
    # the same calibration (the largest |e| it sees, x2 headroom) fitted to 127 instead of 32767: 8 or 9 bits fewer
    assert q16.formats["fe"] < 15 and q16.formats["fe"] - q8.formats["fe"] in (8, 9)
    assert {k: v for k, v in q8.formats.items() if k != "fe"} == {k: v for k, v in q16.formats.items() if k != "fe"}
    np.testing.assert_array_equal(q8.w, q16.w)
    # default 16: the model (and its hash) is the one quantize gave before the option existed
    assert quantize(spec, calib_x=x, chunk=8, eligibility_bits=16).model_hash() == q16.model_hash()
    assert q8.model_hash() != q16.model_hash()


def test_model_file_records_the_width_and_refuses_other_values(tmp_path):
    qm, _ = int8_model("brf", extreme=False)
    qm.save(tmp_path / "m8.q.npz")
    with np.load(tmp_path / "m8.q.npz") as z:
        arrays = {k: z[k] for k in z.files}
    head = json.loads(bytes(arrays.pop("header")).decode())
    assert head["eligibility_bits"] == 8
    assert QuantizedModel.load(tmp_path / "m8.q.npz").eligibility_bits == 8
    q16 = QuantizedModel(**{**qm.__dict__, "eligibility_bits": 16})
    q16.save(tmp_path / "m16.q.npz")
    with np.load(tmp_path / "m16.q.npz") as z:
        assert "eligibility_bits" not in json.loads(bytes(z["header"]).decode())   # old files: absent means 16

    def write(name, value):
        h = dict(head, eligibility_bits=value)
        if value == 16:   # a writer that names the default: its hash is the int16 model's
            h["hash"] = f"0x{q16.model_hash():08x}"
        path = tmp_path / name
        np.savez(path, header=np.frombuffer(json.dumps(h).encode(), np.uint8), **arrays)
        return path
    assert QuantizedModel.load(write("explicit16.npz", 16)).model_hash() == q16.model_hash()
    for i, bad in enumerate((12, 32, 0, "8", True, 8.0, None, [8])):
        with pytest.raises(ModelFileError) as err:
            QuantizedModel.load(write(f"bad{i}.npz", bad))
        msg = str(err.value)
        assert "\n" not in msg and "eligibility_bits" in msg and "expected one of 16, 8" in msg, msg
    bad = QuantizedModel(**{**qm.__dict__, "eligibility_bits": 4})
    with pytest.raises(Exception, match="eligibility_bits"):
        bad.check()


def test_cli_quantize_eligibility_bits(tmp_path, capsys):
    from hypr_edge.onnx_io import export_onnx
    spec = random_spec(np.random.default_rng(1), "brf", 4, 8, 3, True)
    export_onnx(spec, tmp_path / "m.onnx")
    assert main(["quantize", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m8.q.npz"), "--eligibility-bits", "8"]) == 0
    assert "int8" in capsys.readouterr().out
    assert QuantizedModel.load(tmp_path / "m8.q.npz").eligibility_bits == 8
    assert main(["quantize", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.q.npz"), "--eligibility-bits", "12"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--eligibility-bits" in err, err
    assert not (tmp_path / "x.q.npz").exists()


# ---------------------------------------------------------------------------------------------- emulator = C


@needs_gcc
@pytest.mark.parametrize("extreme", [False, True], ids=["calibrated", "saturating"])
@pytest.mark.parametrize("neuron", list(MODELS))
def test_emulator_equals_c_on_the_whole_state_after_every_step(neuron, extreme, tmp_path):
    qm, rng = int8_model(neuron, extreme)
    stream = random_streams(rng, qm, 1, 4 * qm.chunk + 3, True, extreme)[0]
    x, labels = stream.x.astype(np.int16), stream.labels
    # the C: after every learning step (and after the last partial chunk) its learning-state image
    ops = b"".join(b"L" + x[t].tobytes() + struct.pack("<i", int(labels[t])) + b"O" for t in range(len(x)))
    out = run_script(build_harness(qm, tmp_path), ops + b"E" + b"O", tmp_path)
    emu = Emulator(qm, learn=True, stats=True)
    size = LS.image_size(qm)
    images = []
    for t in range(len(x)):
        emu.learn_step(x[t][None].astype(np.int64), labels[t:t + 1])
        images.append(b"O" + LS.pack(qm, emu.state()))
    emu.end_chunk()
    images.append(b"O" + LS.pack(qm, emu.state()))
    assert len(out) == len(images) * (size + 1)
    for t, want in enumerate(images):
        assert out[t * (size + 1):(t + 1) * (size + 1)] == want, f"{neuron}: the states differ after step {t + 1}"
    assert emu.updates == -(-len(x) // qm.chunk)
    e = emu.e[0]
    assert e.min() >= -128 and e.max() <= 127 and np.any(e)
    if extreme:   # the carries really left the int8 range, and saturated there (in both twins: same images)
        assert emu.stats["e_max"] > 127 and np.any(np.abs(e) >= 127)


# ---------------------------------------------------------------------------------------------- state, files


def test_state_image_and_checkpoint_round_trip(tmp_path):
    qm, rng = int8_model("brf", extreme=False, chunk=8)
    q16 = QuantizedModel(**{**qm.__dict__, "eligibility_bits": 16})
    assert LS.image_size(q16) - LS.image_size(qm) == qm.n_hidden * qm.m * qm.d   # one byte less per entry
    assert dict((f.name, f.dtype) for f in LS.layout(qm))["e"] == "i1"
    stream = random_streams(rng, qm, 1, 45, True, False)[0]
    x, lab = stream.x[None], stream.labels[None]
    whole = Emulator(qm, learn=True)
    whole.run(x, lab, keep=())
    first = Emulator(qm, learn=True)
    for t in range(21):   # two chunks and 5 steps buffered: a checkpoint in the middle of a chunk
        first.learn_step(x[:, t], lab[:, t])
    assert first.pos == 5 and np.any(first.e)
    image = LS.pack(qm, first.state())
    assert LS.pack(qm, LS.unpack(qm, image)) == image
    Checkpoint.from_emulator(first).save(tmp_path / "c.ckpt")
    second = Checkpoint.load(tmp_path / "c.ckpt").emulator()
    assert second.qm.eligibility_bits == 8
    second.run(x[:, 21:], lab[:, 21:], keep=())
    assert LS.pack(qm, second.state()) == LS.pack(qm, whole.state())
    with pytest.raises(LS.StateError):   # an int16 model's image is not this model's
        LS.unpack(qm, LS.pack(q16, Emulator(q16).state()))


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("nm") is None, reason="needs gcc, nm")
def test_memory_report_counts_one_byte_per_eligibility(tmp_path):
    qm, _ = int8_model("brf", extreme=False)
    render_library(qm, tmp_path)
    obj = tmp_path / "hypr_model.o"
    subprocess.run(["gcc", "-std=c99", "-O0", "-c", "-o", str(obj), str(tmp_path / "hypr_model.c")], check=True)
    syms = static_symbol_sizes(obj)
    syms.pop("hypr_tensors", None)
    rep = memory_report(qm, code=False)
    assert syms["e"] == qm.n_hidden * qm.m * qm.d
    assert rep.ram == sum(syms.values()), (rep.sizes, syms)


def test_spinnaker_refuses_an_int8_model_with_one_line(tmp_path, capsys):
    qm, _ = int8_model("lif", extreme=False)
    qm.save(tmp_path / "m.q.npz")
    assert main(["generate", str(tmp_path / "m.q.npz"), "--target", "spinnaker", "--cores", "2",
                 "-o", str(tmp_path / "sp")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--eligibility-bits 16" in err, err
    assert not (tmp_path / "sp").exists()


# ---------------------------------------------------------------------------------------------- QEMU


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_qemu_learning_stream_is_bit_exact(tmp_path):
    """stream --learn --check on the Cortex-M4 (mps2-an386): outputs at every step and weights after every sequence
    equal the emulator's; then the int8 eligibilities read over the protocol (1-byte tensor) equal the emulator's."""
    from hypr_edge.qemu import QemuSession
    from hypr_edge.stream import stream_dataset
    from hypr_edge.stream_inputs import sequences
    from hypr_edge.targets import cortex_m as fw
    from hypr_edge.tasks import load_task
    ds = load_task("digits", seed=0)
    spec = random_spec(np.random.default_rng(5), "brf", 8, 24, 10, True)
    qm = quantize(spec, calib_x=ds.x_train[:16], chunk=16, learn="all", lr=0.05, eligibility_bits=8)
    x, y = qm.quantize_inputs(ds.x_test[:6]).astype(np.int16), ds.y_test[:6]
    folder = fw.write_firmware(tmp_path / "fw", target="cortex-m4", board="mps2-an386", qmodel=qm)
    with QemuSession(fw.build_firmware(folder, "mps2-an386"), "mps2-an386") as q:
        dev = q.connect()
        res = stream_dataset(dev, qm, x, y, learn=True, loss_steps=ds.loss_steps, check=True, progress=False)
        e_dev = dev.read_tensor("elig_hidden")
        assert q.stop(dev) == 0
        dev.close()
    assert res.n == len(x)
    labels = sequences(x, y, ds.loss_steps, "arrays").step_labels
    emu = Emulator(qm, learn=True)
    for i in range(len(x)):   # as stream_dataset drives the device: zero state per sequence, partial chunk applied
        emu.reset_state()
        emu.run(x[i:i + 1].astype(np.int64), labels[i:i + 1], keep=())
    assert e_dev.dtype == np.int8
    np.testing.assert_array_equal(e_dev, emu.e[0].ravel())
