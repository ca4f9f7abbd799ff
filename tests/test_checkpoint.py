"""The learning state (docs/fixed-point.md §11), checkpoints and harvest.

- Emulator: learn on sequences 1..6, checkpoint (a file), a new emulator from it learns on 7..12: outputs and the
  whole state (weights, eligibilities, PRNG, counters, buffers) equal the uninterrupted run, for every neuron model
  and for a checkpoint taken in the middle of a chunk.
- C (host-compiled, tests/fixtures/state_harness.c): the library's image equals the emulator's byte for byte; its
  whole-image and streamed loads resume bit-exactly; bad images are refused (and a refused whole-image load
  changes nothing).
- Files: the checkpoint loader's checks; `hypr-edge harvest`.
- QEMU (Cortex-M4, mps2-an386), BRF and ALIF: learn, checkpoint mid-chunk over the protocol, kill QEMU, boot a new
  one (which restores the same state from its non-volatile store, a semihosting file), load the checkpoint, go on:
  equal to the uninterrupted run on the device and to the emulator. BRF also: harvest, regenerate, and the
  regenerated firmware's outputs on held-out sequences equal the adapted device's. `hypr-edge stream
  --checkpoint/--resume` end to end.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.checkpoint import Checkpoint, CheckpointError
from hypr_edge.cli import main
from hypr_edge.fixed import learning_state as LS
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.harvest import harvest
from hypr_edge.neurons import NEURONS
from state_harness import build as build_harness, run_script

FIXTURES = Path(__file__).parent / "fixtures"
HAVE_QEMU = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None
T, LOSS = 30, 12           # short sequences; the label on the last 12 steps


def model(neuron: str, learn: str = "all", chunk: int = 8, recurrent: bool = True, sizes=(4, 10, 3)):
    return random_qmodel(np.random.default_rng(11), neuron, sizes[0], sizes[1], sizes[2], recurrent, chunk, learn)


def data(qm, n: int, seed: int = 2):
    """n sequences of T steps (int16 inputs) and their per-step labels (-1 before the loss window)."""
    rng = np.random.default_rng(seed)
    x = qm.quantize_inputs((rng.random((n, T, qm.n_in)) < 0.35) * rng.uniform(0.5, 1.5, (n, T, qm.n_in)))
    y = rng.integers(0, qm.n_out, n)
    lab = np.full((n, T), -1, np.int64)
    lab[:, T - LOSS:] = y[:, None]
    return x.astype(np.int16), lab


def emulate(emu, x, lab, seqs, start=0, stop=T):
    """Learn on sequences `seqs`; the first from step `start` (no reset when start > 0), the last up to `stop`
    (no END_CHUNK when stop < T); returns the outputs."""
    outs = []
    seqs = list(seqs)
    for i in seqs:
        a = start if i == seqs[0] else 0
        b = stop if i == seqs[-1] else T
        if a == 0:
            emu.reset_state()
        for t in range(a, b):
            emu.learn_step(x[i, t][None].astype(np.int64), lab[i, t:t + 1])
            outs.append(emu.o[0].copy())
        if b == T:
            emu.end_chunk()
    return np.array(outs)


# ---------------------------------------------------------------------------------------------- emulator


@pytest.mark.parametrize("neuron", NEURONS)
def test_emulator_resume_from_a_checkpoint_file_is_bit_exact(neuron, tmp_path):
    qm = model(neuron)
    x, lab = data(qm, 12)
    whole = Emulator(qm, learn=True)
    out_whole = emulate(whole, x, lab, range(12))
    # sequences 1..6 and steps 0..16 of the 7th (chunk 8: two chunks and one step buffered), then a file
    first = Emulator(qm, learn=True)
    emulate(first, x, lab, range(7), stop=17)
    assert first.pos == 1
    Checkpoint.from_emulator(first).save(tmp_path / "c.ckpt")
    second = Checkpoint.load(tmp_path / "c.ckpt").emulator()
    out_rest = emulate(second, x, lab, range(6, 12), start=17)
    np.testing.assert_array_equal(out_rest, out_whole[6 * T + 17:])
    assert LS.pack(qm, second.state()) == LS.pack(qm, whole.state())
    assert whole.updates == 12 * -(-T // 8) and not np.array_equal(whole.w, Emulator(qm).w)


def test_emulator_state_of_one_stream_and_refusals():
    qm = model("alif", learn="readout", chunk=5)
    x, lab = data(qm, 2)
    emu = Emulator(qm, batch=3, learn=True, seeds=[5, 6, 7])
    emu.run(x[:1].repeat(3, 0).astype(np.int64), lab[:1].repeat(3, 0), keep=())
    st = emu.state(1)
    assert st["prng"] == int(emu.prng[1]) and set(st) == {f.name for f in LS.layout(qm)}
    one = Emulator(qm, learn=True)
    one.load_state(st)
    assert LS.pack(qm, one.state()) == LS.pack(qm, st)
    bad = dict(st, pos=qm.chunk)
    with pytest.raises(LS.StateError, match="chunk position"):
        one.load_state(bad)
    with pytest.raises(LS.StateError, match="spikes"):
        one.load_state(dict(st, z=np.full(qm.n_hidden, 2, np.uint8)))
    other = model("alif", learn="readout", chunk=6)
    with pytest.raises(LS.StateError, match="another|not to this model"):
        Emulator(other).load_state(LS.pack(qm, st))


# ---------------------------------------------------------------------------------------------- C library


def learn_ops(x, lab, seqs, start=0, stop=T) -> bytes:
    """The harness operations of `emulate` (hypr_reset_state is hypr_init's second half: not scripted, so the
    sequences here run back to back: the C and the emulator see the same steps either way)."""
    ops = bytearray()
    seqs = list(seqs)
    for i in seqs:
        a = start if i == seqs[0] else 0
        b = stop if i == seqs[-1] else T
        for t in range(a, b):
            ops += b"L" + x[i, t].tobytes() + struct.pack("<i", int(lab[i, t]))
        if b == T:
            ops += b"E"
    return bytes(ops)


def emulate_ops(emu, x, lab, seqs, start=0, stop=T):
    for i in list(seqs):
        a = start if i == list(seqs)[0] else 0
        b = stop if i == list(seqs)[-1] else T
        for t in range(a, b):
            emu.learn_step(x[i, t][None].astype(np.int64), lab[i, t:t + 1])
        if b == T:
            emu.end_chunk()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("neuron,learn,chunk", [("brf", "all", 8), ("alif", "readout", 20), ("lif_zero", "all", 3)])
def test_c_image_equals_emulator_and_resumes(neuron, learn, chunk, tmp_path):
    qm = model(neuron, learn, chunk)
    x, lab = data(qm, 4)
    exe = build_harness(qm, tmp_path)
    n = LS.image_size(qm)
    emu = Emulator(qm, learn=True)
    emulate_ops(emu, x, lab, range(3), stop=13)     # mid-chunk
    mid = LS.pack(qm, emu.state())
    emulate_ops(emu, x, lab, range(2, 4), start=13)
    end = LS.pack(qm, emu.state())
    init = LS.pack(qm, Emulator(qm).state())
    # the C from scratch: image at the cut; the rest; then both loads of the cut image, each going on to the end
    rest = learn_ops(x, lab, range(2, 4), start=13)
    script = (learn_ops(x, lab, range(3), stop=13) + b"O" + rest + b"O"
              + b"Z" + b"P" + struct.pack("<I", n) + mid + rest + b"O"
              + b"Z" + b"Q" + struct.pack("<II", n, 100) + mid + rest + b"O")
    out = run_script(exe, script, tmp_path)
    k = n + 1
    assert out[:k] == b"O" + mid and out[k:2 * k] == b"O" + end
    assert out[2 * k:2 * k + 5] == b"P" + struct.pack("<i", 0) and out[2 * k + 5:3 * k + 5] == b"O" + end
    assert out[3 * k + 5:3 * k + 10] == b"Q" + struct.pack("<i", 0) and out[3 * k + 10:] == b"O" + end

    # refusals: (damage, expected code); a refused hypr_state_load leaves the state as it was (mid), a refused
    # streamed commit leaves hypr_init()'s state
    def patched(f):
        img = bytearray(mid)
        f(img)
        img[16:20] = struct.pack("<I", zlib.crc32(bytes(img[20:])))
        return bytes(img)
    pos_off = LS.HEADER_BYTES + 8
    cases = [(mid[:-1] + bytes([mid[-1] ^ 1]), -4),                                 # damaged
             (mid[:4] + b"\x02" + mid[5:], -2),                                    # another layout version
             (b"XXXX" + mid[4:], -2),                                               # not a state image
             (mid[:8] + b"\1\2\3\4" + mid[12:], -3),                             # another model's
             (patched(lambda b: b.__setitem__(slice(pos_off, pos_off + 4), struct.pack("<I", chunk))), -5)]
    script = b"".join(b"Z" + b"P" + struct.pack("<I", n) + mid + b"P" + struct.pack("<I", n) + img + b"O"
                      + b"Q" + struct.pack("<II", n, 64) + img + b"O" for img, _ in cases)
    out = run_script(exe, script, tmp_path)
    rec = 5 + 5 + k + 5 + k
    for j, (img, code) in enumerate(cases):
        r = out[j * rec:(j + 1) * rec]
        assert r[:5] == b"P" + struct.pack("<i", 0)
        assert r[5:10] == b"P" + struct.pack("<i", code), (j, struct.unpack("<i", r[6:10]))
        assert r[10:10 + k] == b"O" + mid                                           # unchanged
        assert r[10 + k:15 + k] == b"Q" + struct.pack("<i", code)
        assert r[15 + k:] == b"O" + init                                            # back at hypr_init
        with pytest.raises(LS.StateError):
            LS.unpack(qm, img)


# the C built as it ships, and with the build option that stores the chunk's forward states (docs/firmware.md)
STORED = pytest.mark.parametrize("defines", [(), ("HYPR_STORE_STATES=1",)], ids=["replay", "stored"])


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("neuron,eligibility_bits", [("brf", 16), ("alif", 8), ("lif", 16)])
@STORED
def test_other_state_loaded_mid_chunk_c_equals_emulator(neuron, eligibility_bits, defines, tmp_path):
    """A state whose weights and neuron states differ from the running ones, loaded in the middle of a chunk: the
    chunk's update replays from that state's s_0 and buffers with its weights (docs/fixed-point.md §9.2), so the
    forward states kept before the load (emulator; C with HYPR_STORE_STATES) must not be used; C and emulator end
    with the same image."""
    qm = model(neuron, "all", 8)
    qm.eligibility_bits = eligibility_bits
    x, lab = data(qm, 4)
    exe = build_harness(qm, tmp_path, defines)
    n = LS.image_size(qm)
    emu = Emulator(qm, learn=True)
    emulate_ops(emu, x, lab, range(3), stop=13)     # 13 = 8 + 5: five steps into the second chunk
    other = emu.state()
    rng = np.random.default_rng(5)
    other["w"] = np.clip(other["w"] + rng.integers(-300, 301, other["w"].shape), -32768, 32767).astype(other["w"].dtype)
    other["s0"] = (other["s0"] // 2).astype(other["s0"].dtype)
    image = LS.pack(qm, other)
    emu.load_state(image)
    emulate_ops(emu, x, lab, range(2, 4), start=13)
    end = LS.pack(qm, emu.state())
    script = (learn_ops(x, lab, range(3), stop=13) + b"P" + struct.pack("<I", n) + image
              + learn_ops(x, lab, range(2, 4), start=13) + b"O")
    out = run_script(exe, script, tmp_path)
    assert out[:5] == b"P" + struct.pack("<i", 0)
    assert out[5:] == b"O" + end
    # the load mattered: the same steps without it end elsewhere
    plain = Emulator(qm, learn=True)
    emulate_ops(plain, x, lab, range(4))
    assert LS.pack(qm, plain.state()) != end


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("neuron", ["brf", "adlif"])
@STORED
def test_inference_steps_inside_a_learning_chunk_c_equals_emulator(neuron, defines, tmp_path):
    """Inference steps (hypr_step) between the learning steps of one chunk move the neuron states, so the states
    the forward steps recorded are not the chunk's replay (from s_0 and the buffers, §9.2): C and emulator must
    still end with the same image."""
    qm = model(neuron, "all", 8)
    x, lab = data(qm, 2)
    exe = build_harness(qm, tmp_path, defines)
    emu = Emulator(qm, learn=True)
    script = b""
    for t in range(T):
        if t % 8 == 3:   # one inference step in every chunk, before its fourth learning step
            emu.step(x[1, t][None].astype(np.int64))
            script += b"I" + x[1, t].tobytes()
        emu.learn_step(x[0, t][None].astype(np.int64), lab[0, t:t + 1])
        script += b"L" + x[0, t].tobytes() + struct.pack("<i", int(lab[0, t]))
    emu.end_chunk()
    out = run_script(exe, script + b"E" + b"O", tmp_path)
    assert out == b"O" + LS.pack(qm, emu.state())


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("tensor", ["w_hidden", "state"])
@STORED
def test_tensor_written_mid_chunk_c_equals_emulator(tensor, defines, tmp_path):
    """A tensor written through hypr_tensors in the middle of a chunk (the board's WRITE_TENSOR): the update
    replays the chunk with the written values, as after loading a learning state with them; C and emulator end
    with the same image."""
    from hypr_edge.codegen.render import kernel_dir   # the C's tensor table, by name
    qm = model("brf", "all", 8)
    x, lab = data(qm, 3)
    exe = build_harness(qm, tmp_path, defines)
    emu = Emulator(qm, learn=True)
    emulate_ops(emu, x, lab, range(2), stop=13)
    state = emu.state()
    key = {"w_hidden": "w", "state": "s"}[tensor]
    new = state[key].copy()
    rng = np.random.default_rng(9)
    lo, hi = (-32768, 32767) if key == "w" else (-(1 << 20), 1 << 20)
    new = np.clip(new + rng.integers(-400, 401, new.shape) * (20 if key == "w" else 997), lo, hi)
    state[key] = new
    emu.load_state(LS.pack(qm, state))
    emulate_ops(emu, x, lab, range(1, 3), start=13)
    names = re.findall(r'\{"(\w+)", \(void \*\)', (kernel_dir() / "hypr_step.h").read_text())
    raw = new.astype({"w": "<i2", "s": "<i4"}[key]).tobytes()   # the tensor's element type in the C
    script = (learn_ops(x, lab, range(2), stop=13) + b"T" + struct.pack("<III", names.index(tensor), 0, len(raw))
              + raw + learn_ops(x, lab, range(1, 3), start=13) + b"O")
    assert run_script(exe, script, tmp_path) == b"O" + LS.pack(qm, emu.state())


# ---------------------------------------------------------------------------------------------- files


def test_checkpoint_file_checks(tmp_path):
    qm = model("brf", chunk=8)
    x, lab = data(qm, 2)
    emu = Emulator(qm, learn=True)
    emulate(emu, x, lab, range(2))
    ck = Checkpoint.from_emulator(emu, note="test")
    good = tmp_path / "c.ckpt"
    ck.save(good)
    back = Checkpoint.load(good)
    assert back.image == ck.image and back.meta == {"source": "emulator", "note": "test"}

    def rewrite(name, **arrays):
        with zipfile.ZipFile(good) as zf:
            parts = {n[:-4]: np.load(zf.open(n)) for n in zf.namelist()}
        parts.update(arrays)
        path = tmp_path / name
        np.savez(path, **parts)
        return path.with_suffix(".npz") if not str(path).endswith(".npz") else path

    head = json.loads(bytes(np.load(good)["header"]).decode())
    state = np.frombuffer(ck.image, np.uint8).copy()
    state[-1] ^= 1
    cases = {
        "damaged": (rewrite("a", state=state), "SHA-256"),
        "wide": (rewrite("b", state=np.frombuffer(ck.image, np.uint8).astype(np.int16)), "expected uint8"),
        "short": (rewrite("c", state=np.frombuffer(ck.image[:-2], np.uint8)), "expected uint8"),
        "version": (rewrite("d", header=np.frombuffer(json.dumps(dict(head, checkpoint_version=9)).encode(),
                                                      np.uint8)), "checkpoint version 9"),
        "extra": (rewrite("e", extra=np.zeros(3)), "a checkpoint holds"),
    }
    for name, (path, message) in cases.items():
        with pytest.raises(CheckpointError, match=message):
            Checkpoint.load(path)
    (tmp_path / "junk.ckpt").write_bytes(b"PK\x03\x04 not really")
    for path, message in [(tmp_path / "junk.ckpt", "not a hypr-edge checkpoint"), (tmp_path / "none", "no such"),
                          (FIXTURES / "store_harness.c", "not a hypr-edge checkpoint")]:
        with pytest.raises(CheckpointError, match=message):
            Checkpoint.load(path)
    qm.save(tmp_path / "m.q.npz")
    with pytest.raises(CheckpointError, match="a quantized model file, not a checkpoint"):
        Checkpoint.load(tmp_path / "m.q.npz")


def test_harvest_command(tmp_path, capsys):
    qm = model("lif", chunk=8)
    x, lab = data(qm, 6)
    emu = Emulator(qm, learn=True)
    emulate(emu, x, lab, range(6))
    Checkpoint.from_emulator(emu).save(tmp_path / "c.ckpt")
    assert main(["harvest", str(tmp_path / "c.ckpt"), "-o", str(tmp_path / "a.q.npz"), "--onnx",
                 str(tmp_path / "a.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    from hypr_edge.fixed.qmodel import QuantizedModel
    from hypr_edge.onnx_io import load_onnx
    adapted = QuantizedModel.load(tmp_path / "a.q.npz")
    np.testing.assert_array_equal(adapted.w, emu.w[0])
    np.testing.assert_array_equal(adapted.wo, emu.wo[0])
    assert adapted.seed == int(emu.prng[0]) and adapted.model_hash() != qm.model_hash()
    spec = load_onnx(tmp_path / "a.onnx")
    np.testing.assert_allclose(spec.w_out, adapted.wo[:, :-1] / 2.0 ** adapted.formats["fwo"])
    # inference of the harvested model = inference of the learned emulator
    xt, _ = data(qm, 3, seed=9)
    a = Emulator(adapted, batch=3).run(xt.astype(np.int64), keep=("outputs",))["outputs"]
    b = Emulator(qm, batch=3)
    b.w[:], b.wo[:] = emu.w[0], emu.wo[0]
    np.testing.assert_array_equal(a, b.run(xt.astype(np.int64), keep=("outputs",))["outputs"])
    assert main(["harvest", str(tmp_path / "a.q.npz"), "-o", str(tmp_path / "b.q.npz")]) == 2
    assert "not a checkpoint" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- QEMU


BOARD = "mps2-an386"


def device_learn(board, x, lab, seqs, start=0, stop=T):
    """`emulate` over the protocol: LOAD_INPUT and RUN pieces (one label each), RESET_STATE at a sequence's first
    step, END_CHUNK at its last; returns the outputs."""
    outs = []
    seqs = list(seqs)
    for i in seqs:
        a0 = start if i == seqs[0] else 0
        b0 = stop if i == seqs[-1] else T
        board.load_input(0, x[i, a0:b0])
        cuts = sorted({a0, b0, *([T - LOSS] if a0 < T - LOSS < b0 else [])})
        for a, b in zip(cuts, cuts[1:]):
            board.run(a - a0, b - a, learn=True, label=int(lab[i, a]), reset_state=(a == 0), end_chunk=(b == T))
        outs.append(board.read_outputs(0, b0 - a0))
    return np.concatenate(outs)


def infer(board, x):
    return np.stack([board.run_sequence(s)[0] for s in x])


@pytest.mark.skipif(not HAVE_QEMU, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("neuron", ["brf", "alif"])
def test_qemu_resume_after_kill_is_bit_exact(neuron, tmp_path):
    from hypr_edge.host import state as HS
    from hypr_edge.host.protocol import ResetMode
    from hypr_edge.qemu import QemuSession
    from hypr_edge.targets import cortex_m as fw
    qm = model(neuron, chunk=8)
    x, lab = data(qm, 12)
    elf = fw.build_firmware(fw.write_firmware(tmp_path / "fw", target="cortex-m4", board=BOARD, qmodel=qm), BOARD)
    nv = tmp_path / "nv.bin"
    # boot 1: sequences 1..6 and 17 steps of the 7th, checkpoint (mid-chunk), then QEMU is killed
    q = QemuSession(elf, BOARD, nv=nv).start()
    dev = q.connect()
    assert HS.store(dev).ready and not HS.store(dev).restored
    out_a = device_learn(dev, x, lab, range(7), stop=17)
    ck = Checkpoint.from_board(dev, qm)
    assert ck.state["pos"] == 1
    ck.save(tmp_path / "c.ckpt")
    q.kill()
    dev.close()
    # boot 2: its store restored the state it saved after the last RUN; the checkpoint goes in over the protocol
    q = QemuSession(elf, BOARD, nv=nv).start()
    dev = q.connect()
    try:
        assert HS.store(dev).restored and HS.read_state(dev) == ck.image
        dev.reset(ResetMode.FULL)
        Checkpoint.load(tmp_path / "c.ckpt").to_board(dev)
        out_b = device_learn(dev, x, lab, range(6, 12), start=17)
        resumed = HS.read_state(dev)
        dev.reset(ResetMode.FULL)                   # the uninterrupted run, on the same device
        out_whole = device_learn(dev, x, lab, range(12))
        whole = HS.read_state(dev)
        emu = Emulator(qm, learn=True)
        out_emu = emulate(emu, x, lab, range(12))
        np.testing.assert_array_equal(np.concatenate([out_a, out_b]), out_whole)
        np.testing.assert_array_equal(out_whole, out_emu)
        assert resumed == whole == LS.pack(qm, emu.state())
        if neuron == "brf":
            regenerate_scores_like_the_device(dev, qm, tmp_path)
        assert q.stop(dev) == 0
    finally:
        q.kill()
        dev.close()


def regenerate_scores_like_the_device(dev, qm, tmp_path):
    """The adapted device -> checkpoint -> harvest -> firmware of the harvested model: on held-out sequences its
    outputs equal the adapted device's, step for step."""
    from hypr_edge.qemu import QemuSession
    from hypr_edge.targets import cortex_m as fw
    held_out, _ = data(qm, 5, seed=31)
    adapted_out = infer(dev, held_out)
    adapted = harvest(Checkpoint.from_board(dev, qm))
    elf = fw.build_firmware(fw.write_firmware(tmp_path / "fw2", target="cortex-m4", board=BOARD, qmodel=adapted),
                            BOARD)
    with QemuSession(elf, BOARD) as q:
        dev2 = q.connect()
        assert dev2.hello().model_hash == adapted.model_hash()
        np.testing.assert_array_equal(infer(dev2, held_out), adapted_out)
        assert q.stop(dev2) == 0
        dev2.close()


@pytest.mark.skipif(not HAVE_QEMU, reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_stream_command_checkpoint_and_resume(tmp_path, capsys):
    from hypr_edge.qemu import QemuSession
    from hypr_edge.targets import cortex_m as fw
    qm = random_qmodel(np.random.default_rng(5), "brf", 8, 16, 10, True, 16, "all")   # digits: 8 in, 10 classes
    folder = fw.write_firmware(tmp_path / "fw", target="cortex-m4", board=BOARD, qmodel=qm)
    elf = fw.build_firmware(folder, BOARD)
    model_file = str(folder / fw.MODEL_FILE)
    with QemuSession(elf, BOARD) as q:
        url = q.url
        common = ["stream", "--port", url, "--model", model_file, "--learn", "--quiet", "--plot",
                  str(tmp_path / "p.png")]
        c1, c2, c3 = (str(tmp_path / f"c{i}.ckpt") for i in (1, 2, 3))
        assert main([*common, "--limit", "4", "--checkpoint", c1]) == 0
        assert main([*common, "--limit", "8", "--resume", c1, "--checkpoint", c2, "--check"]) == 0
        text = capsys.readouterr().out
        assert "streaming after step 160 of this data" in text and "bit-identical" in text
        assert main([*common, "--limit", "8", "--checkpoint", c3, "--every", "3"]) == 0
        assert "3 saves" in capsys.readouterr().out
        a, b = Checkpoint.load(c2), Checkpoint.load(c3)
        assert a.image == b.image and a.meta["stream"]["done"] == 8 * 40
        assert main([*common, "--limit", "8", "--resume", c3]) == 2
        assert "has done all 320 steps" in capsys.readouterr().err
