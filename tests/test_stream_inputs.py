"""`hypr-edge stream --input`: the user's own files (NumPy, CSV, WAV through the model's front-end), continuous
streams with sparse labels, --record and --plot. Readers and refusals run in-process; the stream logic runs
against a board double that obeys the firmware's RUN semantics on the emulator, and (two QEMU boots) against the
real firmware, bit for bit with hypr_edge.fixed.emulator run over the whole stream in one call."""
import json
import shutil

import numpy as np
import pytest

from hypr_edge import stream as stream_cmd
from hypr_edge.cli import main
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.host.client import HelloInfo, RunResult, Stats
from hypr_edge.host.protocol import ResetMode
from hypr_edge import audio
from hypr_edge.stream_inputs import read_input, read_segments

N_IN, N_HIDDEN, N_OUT = 16, 16, 10     # 16 inputs: the 16-band log-mel of the WAV front-end


# ---- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fsdd(tmp_path_factory):
    """A small synthetic FSDD (2 speakers, takes 0-5) and its 16-band dataset (front-end record included)."""
    from hypr_edge.tasks.fsdd import load_fsdd, make_fsdd_standin
    folder = make_fsdd_standin(tmp_path_factory.mktemp("fsdd") / "recordings", speakers=("al", "bo"), takes=range(6))
    return folder, load_fsdd(folder, cache=False, bands=16)


@pytest.fixture(scope="module")
def qm(fsdd):
    """An ALIF model sized for the WAV front-end (spiking at ~13 % on these inputs, so spikes are exercised); its
    info carries the front-end and loss window, as a model trained on fsdd does
    (test_front_end_travels_from_training_to_the_quantized_model)."""
    ds = fsdd[1]
    q = random_qmodel(np.random.default_rng(6), "alif", N_IN, N_HIDDEN, N_OUT, True, 8, "all")
    q.info.update(front_end=json.dumps(ds.front_end), loss_steps=str(ds.loss_steps))
    return q


@pytest.fixture
def model_file(qm, tmp_path):
    path = tmp_path / "model.q.npz"
    qm.save(path)
    return path


class EmuBoard:
    """A board double: the firmware's commands (firmware/src/main.c: LOAD_INPUT into a buf_steps buffer, RUN with
    its flags and one label, READ_OUTPUTS, READ_TENSOR) carried out on the emulator. A small buffer makes streams
    cross many blocks."""

    def __init__(self, qm, buf_steps=7):
        self.qm, self.buf = qm, buf_steps
        self.emu = Emulator(qm, 1)
        self.inbuf = np.zeros((buf_steps, qm.n_in), np.int16)
        self.outbuf = np.zeros((buf_steps, qm.n_out), np.int32)
        self.commands = []

    def hello(self):
        q = self.qm
        return HelloInfo(1, 0, q.model_hash(), q.n_in, q.n_hidden, q.n_out, q.chunk, 1024, self.buf, 5, "emu")

    def sync(self):
        pass

    def tensors(self):
        return dict.fromkeys(["w_hidden", "w_readout", "state", "spikes", "outputs"])

    def close(self):
        pass

    def reset(self, mode=ResetMode.STATE):
        if mode == ResetMode.FULL:
            self.emu = Emulator(self.qm, 1)
        else:
            self.emu.reset_state()

    def clear_stats(self):
        pass

    def stats(self):
        return Stats(0, 0, len(self.commands), 0, 0, 0, 1000)

    def load_input(self, start, x):
        self.inbuf[start:start + len(x)] = x

    def run(self, start, n, *, learn=False, label=-1, reset_state=False, end_chunk=False, timing=False):
        assert start + n <= self.buf and -1 <= label < self.qm.n_out
        self.commands.append((start, n, learn, label, reset_state, end_chunk))
        if reset_state:
            self.emu.reset_state()
        spikes = 0
        for i in range(start, start + n):
            x = self.inbuf[i][None].astype(np.int64)
            if learn:
                self.emu.learn_step(x, np.array([label]))
            else:
                self.emu.step(x)
            self.outbuf[i] = self.emu.o[0]
            spikes += int(self.emu.z.sum())
        if end_chunk:
            self.emu.end_chunk()
        return RunResult(n, spikes, 10 * n + 3)

    def read_outputs(self, start, n):
        return self.outbuf[start:start + n].copy()

    def read_tensor(self, name):
        return {"spikes": lambda: self.emu.z[0].astype(np.uint8), "w_readout": lambda: self.emu.wo[0].ravel(),
                "w_hidden": lambda: self.emu.w[0].ravel()}[name]()


@pytest.fixture
def emu_board(qm, monkeypatch):
    """`hypr-edge stream --port emu://` talks to an EmuBoard; returns the list of boards opened."""
    opened = []

    def open_board(url, **kw):
        opened.append(EmuBoard(qm))
        return opened[-1]
    monkeypatch.setattr(stream_cmd.Board, "open", staticmethod(open_board))
    return opened


def reference(qm, xq, labels, learn):
    """The emulator over whole sequences in one call each (Emulator.run): outputs, spikes, final weights."""
    emu = Emulator(qm, 1, learn=learn)
    outs, spikes = [], []
    for x, lab in zip(xq, labels):
        emu.reset_state()
        tr = emu.run(x[None].astype(np.int64), lab[None] if learn else None, learn=learn, keep=("outputs", "spikes"))
        outs.append(tr["outputs"][0])
        spikes.append(tr["spikes"][0])
    return np.concatenate(outs), np.concatenate(spikes), emu


def spikes_stream(rng, steps, n_in=N_IN, rate=0.3):
    return (rng.random((steps, n_in)) < rate) * rng.uniform(0.5, 1.0, (steps, n_in))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---- readers: each format, written here ---------------------------------------------------------------------

def read(path, qm, **kw):
    return read_input(str(path), n_in=qm.n_in, n_out=qm.n_out, info=qm.info, model_name="model.q.npz",
                      loss_steps=kw.pop("loss_steps", 5), **kw)


def test_numpy_formats(qm, tmp_path):
    rng = np.random.default_rng(1)
    x3 = rng.normal(size=(4, 12, N_IN)).astype(np.float32)
    y = np.array([3, 0, 9, -1])
    np.savez(tmp_path / "seq.npz", x=x3, y=y)
    d = read(tmp_path / "seq.npz", qm)
    assert (d.n, d.steps, d.continuous) == (4, 12, False)
    np.testing.assert_array_equal(d.x, x3.astype(np.float64))
    np.testing.assert_array_equal(d.sequence_labels, y)
    np.testing.assert_array_equal(d.step_labels[0], [-1] * 7 + [3] * 5)   # the label on the 5-step loss window
    assert (d.step_labels[3] == -1).all()

    per_step = rng.integers(-1, N_OUT, (4, 12))
    np.savez(tmp_path / "steps.npz", x=x3, y=per_step)
    d = read(tmp_path / "steps.npz", qm)
    assert d.sequence_labels is None
    np.testing.assert_array_equal(d.step_labels, per_step)

    x2 = rng.integers(0, 2, (50, N_IN)).astype(np.uint8)   # integer and bool dtypes are numbers too
    np.save(tmp_path / "stream.npy", x2)
    d = read(tmp_path / "stream.npy", qm)
    assert (d.n, d.steps, d.continuous, d.labelled_steps) == (1, 50, True, 0)
    lab = np.full(50, -1)
    lab[10:20] = 4
    np.savez(tmp_path / "stream.npz", x=x2.astype(bool), y=lab)
    d = read(tmp_path / "stream.npz", qm)
    np.testing.assert_array_equal(d.step_labels[0], lab)
    assert d.continuous and d.labelled_steps == 10

    # --continuous: sequences one after another, sequence labels on their loss windows
    c = read(tmp_path / "seq.npz", qm).as_continuous()
    assert (c.n, c.steps, c.sequence_labels) == (1, 48, None)
    np.testing.assert_array_equal(c.step_labels[0, 7:12], [3] * 5)
    assert c.labelled_steps == 15


def test_csv_format(qm, tmp_path):
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(size=(30, N_IN)), 4)
    labels = np.where(rng.random(30) < 0.3, rng.integers(0, N_OUT, 30), -1)
    head = ",".join([f"ch{i}" for i in range(8)] + ["label"] + [f"ch{i}" for i in range(8, 16)])
    rows = [",".join([*map(str, r[:8]), "" if lab < 0 else str(lab), *map(str, r[8:])]) for r, lab in zip(x, labels)]
    (tmp_path / "log.csv").write_text(head + "\n" + "\n".join(rows) + "\n")
    d = read(tmp_path / "log.csv", qm)
    assert d.continuous and d.steps == 30
    np.testing.assert_array_equal(d.x[0], x)
    np.testing.assert_array_equal(d.step_labels[0], labels)

    np.savetxt(tmp_path / "plain.csv", x, delimiter=",")   # no header: inputs only
    d = read(tmp_path / "plain.csv", qm)
    np.testing.assert_array_equal(d.x[0], x)
    assert d.labelled_steps == 0

    (tmp_path / "named.csv").write_text(head.replace("label", "digit") + "\n" + "\n".join(rows) + "\n")
    d = read(tmp_path / "named.csv", qm, label_column="digit")
    np.testing.assert_array_equal(d.step_labels[0], labels)


def test_label_segments(tmp_path):
    (tmp_path / "seg.csv").write_text("start,end,class\n5,9,2\n9,10,0\n20,30,1\n")
    lab = read_segments(tmp_path / "seg.csv", 40, 3)
    want = np.full(40, -1)
    want[5:9], want[9], want[20:30] = 2, 0, 1
    np.testing.assert_array_equal(lab, want)


def test_wav_folder_gives_the_training_inputs(qm, fsdd, tmp_path):
    """The folder of WAVs through the front-end recorded in the model equals the task's own test inputs bit for
    bit (same files, same order); the classes come from the names. One WAV: a continuous stream of all frames."""
    folder, ds = fsdd
    d = read(folder, qm, loss_steps=ds.loss_steps)
    files = sorted(folder.glob("*.wav"))
    test = [i for i, f in enumerate(files) if int(f.stem.split("_")[2]) < 5]
    np.testing.assert_array_equal(d.x[test], ds.x_test)
    np.testing.assert_array_equal(d.sequence_labels[test], ds.y_test)
    one = read(files[0], qm)
    frames = audio.frame_count(len(audio.read_wav(files[0])), 200, 80)   # 25 ms frames every 10 ms at 8 kHz
    assert one.continuous and one.steps == frames and one.labelled_steps == 0


def test_front_end_travels_from_training_to_the_quantized_model(fsdd, tmp_path):
    from hypr_edge.fixed.qmodel import QuantizedModel
    from hypr_edge.fixed.quantize import quantize
    from hypr_edge.onnx_io import export_onnx, load_onnx
    from hypr_edge.train import TrainConfig, new_model
    ds = fsdd[1]
    model = new_model(TrainConfig(hidden=[8]), ds)
    export_onnx(model.to_spec(), tmp_path / "m.onnx")
    quantize(load_onnx(tmp_path / "m.onnx"), calib_x=ds.x_train[:4], chunk=8).save(tmp_path / "m.q.npz")
    info = QuantizedModel.load(tmp_path / "m.q.npz").info
    assert json.loads(info["front_end"]) == ds.front_end and info["loss_steps"] == str(ds.loss_steps)


# ---- bad files and options: one line, exit code 2, before any device is opened ---------------------------------

def write_bad(tmp_path, case):
    p = tmp_path / case
    rng = np.random.default_rng(0)
    if case == "width.npz":
        np.savez(p, x=np.zeros((2, 5, N_IN + 1)))
    elif case == "complex.npy":
        np.save(p, np.zeros((5, N_IN), np.complex64))
    elif case == "object.npy":
        np.save(p, np.array([[None] * N_IN] * 3, dtype=object), allow_pickle=True)
    elif case == "nan.npz":
        x = rng.normal(size=(3, 4, N_IN))
        x[1, 2, 3] = np.nan
        np.savez(p, x=x)
    elif case == "huge.npy":   # a header promising 2^40 values: refused before reading
        with open(p, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (1 << 24, 1 << 12, N_IN)})
    elif case == "rank.npy":
        np.save(p, np.zeros((2, 2, 2, N_IN)))
    elif case == "yshape.npz":
        np.savez(p, x=np.zeros((3, 4, N_IN)), y=np.zeros(4, int))
    elif case == "ylabel.npz":
        np.savez(p, x=np.zeros((3, 4, N_IN)), y=np.array([0, N_OUT, 1]))
    elif case == "noy.npz":
        np.savez(p, inputs=np.zeros((3, 4, N_IN)))
    elif case == "text.csv":
        p.write_text("\n".join(",".join(["0.5"] * N_IN) for _ in range(3)) + "\n" + ",".join(["x"] * N_IN) + "\n")
    elif case == "ragged.csv":
        p.write_text(",".join(["1"] * N_IN) + "\n" + ",".join(["1"] * (N_IN - 1)) + "\n")
    elif case == "label.csv":
        p.write_text(",".join([f"c{i}" for i in range(N_IN)] + ["label"]) + "\n" + ",".join(["0"] * N_IN + ["12"]))
    elif case == "empty.npy":
        np.save(p, np.zeros((0, N_IN)))
    elif case == "data.json":
        p.write_text("{}")
    elif case == "zip.npz":
        p.write_bytes(b"not a zip at all")
    return p


BAD = [("width.npz", "17 inputs per step, the model takes 16"), ("complex.npy", "must be numbers"),
       ("object.npy", "Python objects"), ("nan.npz", "NaN input value(s), the first at index [1, 2, 3]"),
       ("huge.npy", "more than the"), ("rank.npy", "expected (sequences, steps, inputs)"),
       ("yshape.npz", "y has shape (4,)"), ("ylabel.npz", "label 10 outside the model's classes 0..9"),
       ("noy.npz", "no array 'x' (has inputs)"), ("text.csv", "line 4: 'x' is not a number"),
       ("ragged.csv", "line 2 has 15 columns, expected 16"), ("label.csv", "label '12' is not a class 0..9"),
       ("empty.npy", "no steps"), ("data.json", "unknown input format .json"), ("zip.npz", "not a .npz file"),
       ("missing.npz", "no such file or folder")]


@pytest.mark.parametrize("case,message", BAD, ids=[c for c, _ in BAD])
def test_bad_input_files_refused_with_one_line(case, message, model_file, tmp_path, capsys):
    path = write_bad(tmp_path, case)
    assert main(["stream", "--port", "loop://", "--model", str(model_file), "--input", str(path), "--quiet"]) == 2
    err = one_error_line(capsys)
    assert message in err and str(path) in err, err


def test_bad_options_refused_with_one_line(qm, model_file, tmp_path, capsys):
    np.savez(tmp_path / "seq.npz", x=np.zeros((3, 4, N_IN)), y=np.array([1, 2, 3]))
    np.save(tmp_path / "stream.npy", np.zeros((40, N_IN)))
    seg = tmp_path / "seg.csv"
    base = ["stream", "--port", "loop://", "--model", str(model_file), "--quiet"]
    cases = [
        (["--input", str(tmp_path / "seq.npz"), "--task", "digits"], "--input replaces --task"),
        (["--input", str(tmp_path / "seq.npz"), "--labels", str(seg)], "add --continuous"),
        (["--input", str(tmp_path / "stream.npy"), "--learn"], "--learn needs labels"),
        (["--input", str(tmp_path / "stream.npy"), "--record", str(tmp_path / "r.txt")], "must end in .npz or .csv"),
        (["--input", str(tmp_path / "stream.npy"), "--record-spikes"], "--record-spikes needs --record"),
        (["--input", str(tmp_path / "stream.npy"), "--plot-every", "3"], "--plot-every needs --plot"),
        (["--input", str(tmp_path / "stream.npy"), "--plot", str(tmp_path)], "is a folder"),
    ]
    segments = [("0,50,1\n", "not within the stream's 40 steps"), ("0,10,1\n5,12,2\n", "overlaps"),
                ("0,10,10\n", "class 10 outside"), ("0,10\n", "expected start,end,class")]
    cases += [(["--input", str(tmp_path / "stream.npy"), "--labels", str(seg)], m, text) for text, m in segments]
    for case in cases:
        args, message = case[:2]
        if len(case) == 3:
            seg.write_text(case[2])
        assert main(base + args) == 2, args
        err = one_error_line(capsys)
        assert message in err, (args, err)
    # WAV input needs the front-end in the model
    bare = tmp_path / "bare.q.npz"
    plain = random_qmodel(np.random.default_rng(5), "brf", N_IN, N_HIDDEN, N_OUT, True, 8, "all")
    plain.save(bare)
    (tmp_path / "w").mkdir()
    assert main(["stream", "--port", "loop://", "--model", str(bare), "--input", str(tmp_path / "w")]) == 2
    assert "records no audio front-end" in one_error_line(capsys)


# ---- the command against the board double -----------------------------------------------------------------------

def test_continuous_stream_with_sparse_labels(qm, model_file, emu_board, tmp_path, capsys):
    """A CSV stream, labels from segments on some steps only, learning: the device double sees one state reset,
    one END_CHUNK at the very end, one label per RUN; the record equals the emulator over the whole stream."""
    rng = np.random.default_rng(3)
    x = spikes_stream(rng, 90)
    np.savetxt(tmp_path / "s.csv", x, delimiter=",", fmt="%.5f")
    (tmp_path / "seg.csv").write_text("10,25,3\n40,41,7\n60,80,3\n")
    rec, png = tmp_path / "rec.npz", tmp_path / "acc.png"
    assert main(["stream", "--port", "emu://", "--model", str(model_file), "--input", str(tmp_path / "s.csv"),
                 "--labels", str(tmp_path / "seg.csv"), "--learn", "--check", "--record", str(rec),
                 "--record-spikes", "--plot", str(png), "--plot-every", "45", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "continuous stream of 90 steps, 36 labelled" in out and "over 36 labelled steps" in out
    assert "confusion matrix" in out and "bit-identical" in out
    board = emu_board[0]
    resets = [c for c in board.commands if c[4]]
    ends = [c for c in board.commands if c[5]]
    assert len(resets) == 1 and len(ends) == 1 and board.commands[-1][5]
    assert len(board.commands) == 90   # --record-spikes: one RUN per step
    labels = read_segments(tmp_path / "seg.csv", 90, N_OUT)
    xq = np.clip(np.round(x.round(5) * 2 ** qm.formats["fx"]), -32768, 32767)[None]
    want, want_z, emu = reference(qm, xq, labels[None], learn=True)
    r = np.load(rec)
    np.testing.assert_array_equal(r["outputs"], want)
    np.testing.assert_array_equal(r["spikes"], want_z)
    assert want_z.mean() > 0.05
    np.testing.assert_array_equal(r["label"], labels)
    np.testing.assert_array_equal(r["prediction"], want.argmax(1))
    assert r["ticks"].sum() == r["run_ticks"].sum() == 90 * 13 and r["continuous"]
    np.testing.assert_array_equal(board.emu.wo, emu.wo)
    assert png.stat().st_size > 10_000


def test_sequences_record_csv_and_saturation(qm, model_file, emu_board, tmp_path, capsys):
    """Sequences with per-sequence labels, inference: recorded CSV rows equal the emulator; values beyond the
    input format saturate and are counted; --nan zero streams NaN as 0."""
    rng = np.random.default_rng(4)
    x = spikes_stream(rng, 5 * 12).reshape(5, 12, N_IN)
    x[0, 0, 0], x[1, 3, 2], x[2, 5, 5] = 1e9, -np.inf, np.nan
    y = np.array([1, 2, -1, 4, 5])
    np.savez(tmp_path / "seq.npz", x=x, y=y)
    rec = tmp_path / "rec.csv"
    assert main(["stream", "--port", "emu://", "--model", str(model_file), "--input", str(tmp_path / "seq.npz"),
                 "--nan", "zero", "--check", "--record", str(rec), "--quiet"]) == 0
    out = capsys.readouterr().out
    xq = np.clip(np.round(np.where(np.isnan(x), 0.0, x) * 2 ** qm.formats["fx"]), -32768, 32767)
    want, _, _ = reference(qm, xq, np.full((5, 12), -1), learn=False)
    pred = want.reshape(5, 12, N_OUT).astype(np.int64).sum(1).argmax(1)   # loss window 20 >= 12: every step
    assert "2 of 960 values beyond the input format" in out and "1 NaN values streamed as 0" in out
    assert f"({int((pred == y)[y >= 0].sum())}/4 sequences)" in out
    table = np.loadtxt(rec, delimiter=",", skiprows=1, dtype=np.int64)
    head = rec.read_text().splitlines()[0].split(",")
    assert head[:5] == ["sequence", "step", "label", "prediction", "ticks"] and len(head) == 5 + N_OUT
    np.testing.assert_array_equal(table[:, 5:], want)
    np.testing.assert_array_equal(table[:, 0], np.repeat(np.arange(5), 12))
    np.testing.assert_array_equal(table[:, 2].reshape(5, 12)[:, -1], y)


def test_live_plot_redraws_every_n(monkeypatch, tmp_path):
    drawn = []
    monkeypatch.setattr(stream_cmd, "plot_accuracy", lambda path, log, n, title: drawn.append(log.done))

    class Log:
        data = type("D", (), {"steps": 10})()
        done = 0
    redraw = stream_cmd.live_plot(tmp_path / "p.png", 3, False, 2, "t")
    for done in range(10, 101, 10):   # 10 sequences of 10 steps, one block each
        Log.done = done
        redraw(Log)
    assert drawn == [30, 60, 90]


# ---- the real firmware in QEMU: two boots ------------------------------------------------------------------------

needs_qemu = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")


@pytest.fixture(scope="module")
def firmware(qm, tmp_path_factory):
    from hypr_edge.targets import cortex_m as fw
    folder = fw.write_firmware(tmp_path_factory.mktemp("fw") / "fw", target="cortex-m4", board="mps2-an386",
                               qmodel=qm)
    fw.build_firmware(folder, "mps2-an386")
    return folder


@needs_qemu
def test_qemu_continuous_stream_sparse_labels_bit_exact(qm, firmware, tmp_path, capsys):
    """300 steps (two blocks of the device's 256-step buffer), labels on three segments, learning; --check
    compares every block, --record (with spikes) equals the emulator run over the whole stream in one call."""
    rng = np.random.default_rng(6)
    x = spikes_stream(rng, 300)
    labels = np.full(300, -1)
    labels[40:120], labels[200:201], labels[230:290] = 2, 5, 7   # the last one across the two blocks
    np.savez(tmp_path / "stream.npz", x=x.astype(np.float32), y=labels)
    rec = tmp_path / "rec.npz"
    assert main(["stream", "--firmware", str(firmware), "--input", str(tmp_path / "stream.npz"), "--learn",
                 "--check", "--record", str(rec), "--record-spikes", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "continuous stream of 300 steps, 141 labelled" in out and "bit-identical" in out
    assert (firmware / "stream-learning.png").is_file() is False and rec.with_suffix(".png").is_file()
    xq = np.clip(np.round(x.astype(np.float32).astype(np.float64) * 2 ** qm.formats["fx"]), -32768, 32767)
    want, want_z, _ = reference(qm, xq[None], labels[None], learn=True)
    r = np.load(rec)
    np.testing.assert_array_equal(r["outputs"], want)
    np.testing.assert_array_equal(r["spikes"], want_z)
    assert want_z.mean() > 0.05
    assert len(r["run_ticks"]) == 300 and (r["run_ticks"] > 0).all() and r["tick_hz"] > 0
    np.testing.assert_array_equal(r["run_spikes"], want_z.sum(1))


@needs_qemu
def test_qemu_wav_folder_learning_record_csv(qm, fsdd, firmware, tmp_path, capsys):
    """A folder of WAVs through the model's front-end, on-device learning per sequence, --check, CSV record equal
    to the emulator; the accuracy plot lands next to the record."""
    folder, ds = fsdd
    rec = tmp_path / "rec.csv"
    assert main(["stream", "--firmware", str(firmware), "--input", str(folder), "--limit", "12", "--learn",
                 "--check", "--record", str(rec), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "12 sequences of 65 steps, 12 labelled" in out and "/12 sequences)" in out and "bit-identical" in out
    d = read(folder, qm, loss_steps=ds.loss_steps).limit(12)
    xq = np.clip(np.round(d.x * 2 ** qm.formats["fx"]), -32768, 32767)
    want, _, _ = reference(qm, xq, d.step_labels, learn=True)
    table = np.loadtxt(rec, delimiter=",", skiprows=1, dtype=np.int64)
    np.testing.assert_array_equal(table[:, 5:], want)
    np.testing.assert_array_equal(table[:, 2], d.step_labels.reshape(-1))
    assert table[:, 4].sum() > 0 and rec.with_suffix(".png").is_file()
