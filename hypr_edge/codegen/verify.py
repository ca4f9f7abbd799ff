"""Run the emulator and the compiled C on the same model and streams; report equality or the first difference.
Also `hypr-edge verify`."""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CommandError
from ..fixed.emulator import Emulator, stream_seed
from ..fixed.quantize import QuantizedModel, QuantizeError
from ..tasks import load_task
from .build import HostBuildError, build_host, write_host


@dataclass
class Stream:
    x: np.ndarray            # (T, n_in) int16 values in Q.fx
    labels: np.ndarray       # (T,) int; -1 = no loss at that step
    learn: bool = False
    seed: int = 0x2545F491


def write_input(path, qm: QuantizedModel, streams: list[Stream]) -> None:
    with open(path, "wb") as fh:
        fh.write(b"HYI1" + np.uint32(len(streams)).tobytes())
        for s in streams:
            T = len(s.x)
            fh.write(np.array([T, int(s.learn), s.seed], dtype="<u4").tobytes())
            rec = np.zeros(T, dtype=[("x", "<i2", (qm.n_in,)), ("label", "<i4")])
            rec["x"] = s.x
            rec["label"] = s.labels
            fh.write(rec.tobytes())


def read_trace(path, qm: QuantizedModel) -> list[dict]:
    """Parse the harness output into per-stream dicts like Emulator.run (batch axis dropped)."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"HYO1":
        raise ValueError("bad trace header")
    n, d, c, m = qm.n_hidden, qm.d, qm.n_out, qm.m
    step_dt = np.dtype([("s", "<i4", (n * d,)), ("z", "u1", (n,)), ("o", "<i4", (c,))])
    w_shapes = ([(n, m)] if qm.learn == "all" else []) + [(c, n + 1)]
    w_bytes = sum(2 * a * b for a, b in w_shapes)
    streams, cur, i = [], None, 4
    while i < len(buf):
        tag = buf[i:i + 1]
        i += 1
        if cur is None:
            cur = {"states": [], "spikes": [], "outputs": [], "weights": []}
        if tag == b"S":
            r = np.frombuffer(buf, step_dt, 1, i)[0]
            cur["states"].append(r["s"].reshape(n, d))
            cur["spikes"].append(r["z"])
            cur["outputs"].append(r["o"])
            i += step_dt.itemsize
        elif tag == b"W":
            arrs, j = [], i
            for a, b in w_shapes:
                arrs.append(np.frombuffer(buf, "<i2", a * b, j).reshape(a, b).astype(np.int64))
                j += 2 * a * b
            cur["weights"].append(tuple(arrs) if qm.learn == "all" else (None, arrs[0]))
            i += w_bytes
        elif tag == b"E":
            streams.append(cur)
            cur = None
        else:
            raise ValueError(f"bad trace tag {tag!r} at byte {i - 1}")
    return streams


def run_c(exe, qm: QuantizedModel, streams: list[Stream], workdir=None) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        inp, out = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        write_input(inp, qm, streams)
        proc = subprocess.run([str(exe), str(inp), str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"harness failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
        return read_trace(out, qm)


def run_emulator(qm: QuantizedModel, streams: list[Stream]) -> list[dict]:
    """Streams with the same length and mode run as one batch (independent devices)."""
    results: list[dict | None] = [None] * len(streams)
    groups: dict[tuple, list[int]] = {}
    for k, s in enumerate(streams):
        groups.setdefault((len(s.x), s.learn), []).append(k)
    for (T, learn), idx in groups.items():
        emu = Emulator(qm, batch=len(idx), learn=learn, seeds=[streams[k].seed for k in idx])
        x = np.stack([streams[k].x for k in idx]).astype(np.int64)
        y = np.stack([streams[k].labels for k in idx]).astype(np.int64)
        tr = emu.run(x, y if learn else None)
        for b, k in enumerate(idx):
            res = {key: tr[key][b] for key in ("states", "spikes", "outputs")}
            res["weights"] = [((w[b] if qm.learn == "all" else None), wo[b]) for w, wo in tr.get("weights", [])]
            results[k] = res
    return results


@dataclass
class Mismatch:
    stream: int
    quantity: str
    step: int            # step index (or update index for weights)
    index: tuple
    c_value: int
    emulator_value: int

    def __str__(self):
        where = "update" if self.quantity.startswith("w_") else "step"
        return (f"stream {self.stream}: {self.quantity} differs at {where} {self.step}, index {self.index}: "
                f"C {self.c_value} vs emulator {self.emulator_value}")


def compare(c_res: list[dict], e_res: list[dict]) -> Mismatch | None:
    """The first difference, in stream order, then step order (states, spikes, outputs), then updates."""
    for k, (c, e) in enumerate(zip(c_res, e_res)):
        T = len(e["outputs"])
        if len(c["outputs"]) != T or len(c["weights"]) != len(e["weights"]):
            return Mismatch(k, "length", min(len(c["outputs"]), T), (), len(c["outputs"]), T)
        for t in range(T):
            for q in ("states", "spikes", "outputs"):
                a, b = np.asarray(c[q][t], np.int64), np.asarray(e[q][t], np.int64)
                if not np.array_equal(a, b):
                    idx = tuple(int(i) for i in np.argwhere(a != b)[0])
                    return Mismatch(k, q, t, idx, int(a[idx]), int(b[idx]))
        for u, (cw, ew) in enumerate(zip(c["weights"], e["weights"])):
            for name, a, b in (("w_hidden", cw[0], ew[0]), ("w_readout", cw[1], ew[1])):
                if a is None:
                    continue
                if not np.array_equal(a, b):
                    idx = tuple(int(i) for i in np.argwhere(a != b)[0])
                    return Mismatch(k, name, u, idx, int(a[idx]), int(b[idx]))
    if len(c_res) != len(e_res):
        return Mismatch(len(e_res), "streams", 0, (), len(c_res), len(e_res))
    return None


def verify(qm: QuantizedModel, streams: list[Stream], exe=None, workdir=None) -> Mismatch | None:
    """Generate + build (unless `exe` is given), run both sides, compare everything."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        if exe is None:
            write_host(qm, tmp)
            exe = build_host(tmp)
        c_res = run_c(exe, qm, streams, tmp)
    return compare(c_res, run_emulator(qm, streams))


# ------------------------------------------------------------------------------------------ CLI

def add_arguments(parser) -> None:
    from ..arguments import positive_int, seed32
    parser.add_argument("model", help="quantized model file (.npz from `hypr-edge quantize`)")
    parser.add_argument("--task", help="built-in task whose test inputs to run (default: random sparse inputs)")
    parser.add_argument("--data", help="data path for tasks read from files")
    parser.add_argument("--streams", type=positive_int, default=8, help="number of input streams (default 8)")
    parser.add_argument("--steps", type=positive_int, help="steps per stream (default: the task's, or 100)")
    parser.add_argument("--learn", action="store_true", help="run with on-device learning (labels from the task)")
    parser.add_argument("--seed", type=seed32, default=0)


def run(args) -> int:
    try:
        qm = QuantizedModel.load(args.model)
    except (QuantizeError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    rng = np.random.default_rng(args.seed)
    if args.task:
        try:
            ds = load_task(args.task, seed=args.seed, data=args.data)
        except (ValueError, FileNotFoundError) as err:
            raise CommandError(str(err)) from None
        if ds.n_inputs != qm.n_in:
            raise CommandError(f"task {args.task} has {ds.n_inputs} inputs, the model {qm.n_in}")
        x = ds.x_test[:args.streams]
        if args.steps:
            x = x[:, :args.steps]
        inputs = qm.quantize_inputs_counted(x)   # the input policy: saturate with the sign, refuse NaN
        xq, saturated = inputs.values, inputs.saturated
        y = np.broadcast_to(ds.y_test[:args.streams, None], xq.shape[:2])
        if ds.loss_steps:
            y = np.where(np.arange(xq.shape[1]) >= xq.shape[1] - ds.loss_steps, y, -1)
    else:
        steps = args.steps or 100
        xq, saturated = qm.quantize_inputs((rng.random((args.streams, steps, qm.n_in)) < 0.2).astype(float)), 0
        y = rng.integers(0, qm.n_out, (args.streams, steps))
    if saturated:
        print(f"input: {saturated} of {xq.size} values beyond the input format (Q.{qm.formats['fx']}) saturated to "
              "its limits")
    streams = [Stream(xq[k], np.asarray(y[k]), args.learn, stream_seed(qm.seed, k)) for k in range(len(xq))]
    try:
        bad = verify(qm, streams)
    except HostBuildError as err:
        raise CommandError(str(err)) from None
    n_steps = sum(len(s.x) for s in streams)
    if bad is None:
        print(f"equal: {len(streams)} streams, {n_steps} steps, {'learning' if args.learn else 'inference'}: "
              "every state, spike, readout value" + (" and weight update" if args.learn else "") + " bit-identical")
        return 0
    print(f"MISMATCH: {bad}")
    return 1
