"""NetworkSpec -> QuantizedModel (docs/fixed-point.md §3), the quantized model file, and `hypr-edge quantize`."""
from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..network_spec import LayerSpec, NetworkSpec, STATE_NAMES
from . import spec as fx_spec
from .spec import FA, FEO, FQ, SURROGATE, exp2_table, psi_shift, psi_table, to_q

FORMAT_VERSION = 1
LEARN_MODES = ("readout", "all")
MAX_CHUNK = 256            # §5: bounds the int64 sums over a chunk
#: per-neuron int32 constants of each model, in the order the C declares them (§4)
NEURON_CONSTS = {"lif": ("ka", "kc"), "alif": ("ka", "kc", "kr", "kr1"), "brf": ("kb", "kw", "kc")}
#: model-wide scalar constants (§4)
SCALAR_CONSTS = {"lif": ("th",), "alif": ("th0", "kba"), "brf": ("th", "kg")}


class QuantizeError(ValueError):
    """A network the fixed-point design cannot represent; the message says why in one line."""


@dataclass
class QuantizedModel:
    neuron: str
    n_in: int
    n_hidden: int
    n_out: int
    recurrent: bool
    formats: dict[str, int]        # fx, fw, fwo, fs, fe (fractional bits), §2
    w: np.ndarray                  # (N, M) int16 Q.fw: [W_in | bias | W_rec] (§3.1)
    wo: np.ndarray                 # (C, N + 1) int16 Q.fwo: [W_out | b_out]
    k: dict[str, np.ndarray]       # per-neuron constants (N,) int32, NEURON_CONSTS
    scalars: dict[str, int]        # SCALAR_CONSTS
    kao: np.ndarray                # (C,) alpha_o in Q.FA
    kbo: np.ndarray                # (C,) 1 - alpha_o in Q.FA
    chunk: int = 16                # lambda
    learn: str = "all"             # what on-device learning updates
    lr_mant: int = 1               # learning rate = lr_mant * 2^-lr_shift
    lr_shift: int = 10
    seed: int = fx_spec.XORSHIFT_DEFAULT_SEED
    info: dict = field(default_factory=dict)

    # ---- derived sizes and tables
    @property
    def d(self) -> int:
        return len(STATE_NAMES[self.neuron])

    @property
    def m(self) -> int:
        """Presynaptic columns of the hidden layer: inputs, the bias column, recurrent spikes."""
        return self.n_in + 1 + (self.n_hidden if self.recurrent else 0)

    @property
    def surrogate(self) -> str:
        return SURROGATE[self.neuron]

    @property
    def psi_table(self) -> np.ndarray:
        return psi_table(self.surrogate)

    @property
    def psi_shift(self) -> int:
        return psi_shift(self.surrogate, self.formats["fs"])

    @property
    def exp2_table(self) -> np.ndarray:
        return exp2_table()

    def shifts(self) -> dict[str, int]:
        """The stochastic-rounding shifts of the SGD step (§7.2)."""
        f = self.formats
        return {"hidden": FQ + self.lr_shift - f["fw"], "readout": FQ + self.lr_shift - f["fwo"]}

    def model_hash(self) -> int:
        """FNV-1a (32 bit) over the header numbers and the little-endian integer arrays, in file order."""
        h = 0x811C9DC5
        for blob in self._hash_blobs():
            for byte in blob:
                h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
        return h

    def _hash_blobs(self):
        yield json.dumps(self._header(with_info=False), sort_keys=True).encode()
        yield self.w.astype("<i2").tobytes()
        yield self.wo.astype("<i2").tobytes()
        for name in NEURON_CONSTS[self.neuron]:
            yield self.k[name].astype("<i4").tobytes()
        yield self.kao.astype("<i4").tobytes()
        yield self.kbo.astype("<i4").tobytes()

    def _header(self, with_info=True) -> dict:
        head = {"format_version": FORMAT_VERSION, "neuron": self.neuron, "n_in": self.n_in,
                "n_hidden": self.n_hidden, "n_out": self.n_out, "recurrent": self.recurrent,
                "formats": {k: int(v) for k, v in sorted(self.formats.items())},
                "scalars": {k: int(v) for k, v in sorted(self.scalars.items())},
                "chunk": self.chunk, "learn": self.learn, "lr_mant": self.lr_mant, "lr_shift": self.lr_shift,
                "seed": self.seed, "fa": FA, "fq": FQ, "feo": FEO}
        if with_info:
            head["info"] = self.info
        return head

    def check(self) -> None:
        """Reject settings outside the proven bounds (§5)."""
        if not 1 <= self.chunk <= MAX_CHUNK:
            raise QuantizeError(f"chunk length {self.chunk} outside 1..{MAX_CHUNK}")
        if self.learn not in LEARN_MODES:
            raise QuantizeError(f"learn mode {self.learn!r}; expected one of {', '.join(LEARN_MODES)}")
        if not (0 <= self.lr_mant < 1 << 15 and 0 <= self.lr_shift <= 40):
            raise QuantizeError(f"learning rate mantissa {self.lr_mant} / shift {self.lr_shift} outside 0..32767 / 0..40")
        if any(not 0 <= s <= 61 for s in self.shifts().values()):
            raise QuantizeError(f"learning-rate shift {self.lr_shift} gives an SGD rounding shift outside 0..61")
        if not 1 <= self.seed <= 0xFFFFFFFF:
            raise QuantizeError("the PRNG seed must be a nonzero 32-bit value")
        one = 1 << FA
        ranges = {"ka": (0, one), "kc": (0, one), "kr": (0, one), "kr1": (0, one), "kw": (0, one),
                  "kb": (-fx_spec.A_MAX, fx_spec.A_MAX)}
        for name, v in [*self.k.items(), ("kao", self.kao), ("kbo", self.kbo)]:
            lo, hi = ranges.get(name, (0, one))
            if np.any(np.asarray(v) < lo) or np.any(np.asarray(v) > hi):
                raise QuantizeError(f"constant {name} outside [{lo}, {hi}] (docs/fixed-point.md §4)")
        sc_ranges = {"th": (-(1 << 31), fx_spec.I32_MAX), "th0": (-(1 << 31), fx_spec.I32_MAX), "kg": (0, one - 1),
                     "kba": (-fx_spec.A_MAX, fx_spec.A_MAX)}
        for name, v in self.scalars.items():
            lo, hi = sc_ranges[name]
            if not lo <= v <= hi:
                raise QuantizeError(f"constant {name} = {v} outside [{lo}, {hi}] (docs/fixed-point.md §4)")
        if np.abs(self.w).max(initial=0) > 32768 or np.abs(self.wo).max(initial=0) > 32768:
            raise QuantizeError("weights outside int16")
        f = self.formats
        if not (0 <= f["fx"] <= 14 and 0 <= f["fw"] <= 15 and 0 <= f["fwo"] <= 15 and 8 <= f["fs"] <= 20
                and 0 <= f["fe"] <= 15 and f["fs"] <= f["fw"] + f["fx"]):
            raise QuantizeError(f"formats {f} outside the ranges of docs/fixed-point.md §2")

    # ---- dequantized float view (host side: reports and the float reference of tests)
    def to_spec(self) -> NetworkSpec:
        f = self.formats
        w = self.w / 2.0 ** f["fw"]
        ni = self.n_in
        k = {n: v / 2.0 ** FA for n, v in self.k.items()}
        sc = self.scalars
        consts = dict(self.info.get("constants", {}))
        if self.neuron == "lif":
            params = {"alpha": k["ka"]}
            consts["threshold"] = sc["th"] / 2.0 ** f["fs"]
        elif self.neuron == "alif":
            params = {"alpha": k["ka"], "rho": k["kr"]}
            consts.update(b0=sc["th0"] / 2.0 ** f["fs"], beta_a=sc["kba"] / 2.0 ** FA)
        else:
            delta = float(consts["delta"])
            omega = k["kw"] / delta
            p = (-1.0 + np.sqrt(np.maximum(1.0 - (delta * omega) ** 2, 0.0))) / delta
            params = {"omega": omega, "b_offset": np.maximum(p - k["kb"] / delta, 0.0)}
            consts.update(threshold=sc["th"] / 2.0 ** f["fs"], gamma=sc["kg"] / 2.0 ** FA)
        layer = LayerSpec(w_in=w[:, :ni].copy(), bias=w[:, ni].copy(),
                          w_rec=w[:, ni + 1:].copy() if self.recurrent else None, params=params)
        wo = self.wo / 2.0 ** f["fwo"]
        return NetworkSpec(neuron=self.neuron, layers=[layer], w_out=wo[:, :-1].copy(), b_out=wo[:, -1].copy(),
                           alpha_out=self.kao / 2.0 ** FA, constants=consts, info={"quantized": "1"})

    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """Float inputs -> int16 Q.fx, saturated (host side)."""
        return np.clip(to_q(x, self.formats["fx"]), -32768, 32767)

    # ---- file
    def save(self, path: str | os.PathLike) -> None:
        arrays = {"w": self.w.astype(np.int16), "wo": self.wo.astype(np.int16),
                  "kao": self.kao.astype(np.int32), "kbo": self.kbo.astype(np.int32)}
        arrays.update({f"k_{n}": v.astype(np.int32) for n, v in self.k.items()})
        head = self._header()
        head["hash"] = f"0x{self.model_hash():08x}"
        arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "QuantizedModel":
        try:
            with np.load(path, allow_pickle=False) as z:
                head = json.loads(bytes(z["header"]).decode())
                if head.get("format_version") != FORMAT_VERSION:
                    raise QuantizeError(f"{path}: quantized-model format {head.get('format_version')}, "
                                        f"this version reads {FORMAT_VERSION}")
                k = {n: z[f"k_{n}"].astype(np.int64) for n in NEURON_CONSTS[head["neuron"]]}
                qm = cls(neuron=head["neuron"], n_in=head["n_in"], n_hidden=head["n_hidden"], n_out=head["n_out"],
                         recurrent=head["recurrent"], formats=head["formats"], w=z["w"].astype(np.int64),
                         wo=z["wo"].astype(np.int64), k=k, scalars=head["scalars"], kao=z["kao"].astype(np.int64),
                         kbo=z["kbo"].astype(np.int64), chunk=head["chunk"], learn=head["learn"],
                         lr_mant=head["lr_mant"], lr_shift=head["lr_shift"], seed=head["seed"],
                         info=head.get("info", {}))
        except (OSError, KeyError, ValueError, zlib.error) as err:
            if isinstance(err, QuantizeError):
                raise
            if isinstance(err, FileNotFoundError):
                raise QuantizeError(f"{path}: no such file") from None
            hint = ("an ONNX model: run `hypr-edge quantize` on it first" if str(path).endswith(".onnx")
                    else "expected a .q.npz written by `hypr-edge quantize`")
            raise QuantizeError(f"{path}: not a quantized model file ({hint})") from None
        qm.check()
        return qm


# ------------------------------------------------------------------------------------------ quantizer

def _frac_bits(max_abs: float, limit: int, cap: int) -> int:
    """The most fractional bits that keep max_abs within `limit` integer counts."""
    if max_abs <= 0:
        return cap
    return min(cap, math.floor(math.log2(limit / max_abs)))


def lr_to_fixed(lr: float) -> tuple[int, int]:
    """Learning rate -> (mantissa < 2^15, shift), the nearest representable value."""
    if lr <= 0:
        return 0, 0
    shift = min(40, max(0, 14 - math.floor(math.log2(lr))))
    return int(round(lr * 2 ** shift)), shift


def quantize(spec: NetworkSpec, *, calib_x: np.ndarray | None = None, calib_y: np.ndarray | None = None,
             chunk: int = 16, learn: str = "all", lr: float = 2 ** -10, seed: int = fx_spec.XORSHIFT_DEFAULT_SEED,
             fs: int | None = None, fe: int | None = None, headroom: float = 2.0) -> QuantizedModel:
    """Choose formats (§3), round every parameter, and calibrate the state and eligibility scales on `calib_x`
    (float inputs (B, T, n_in); random sparse inputs in [0, 1] when None) by running the emulator itself."""
    spec.validate()
    if len(spec.layers) != 1:
        raise QuantizeError(f"the device runs one hidden layer; this network has {len(spec.layers)}")
    layer = spec.layers[0]
    neuron, n, ni, c = spec.neuron, layer.size, spec.n_inputs, spec.n_outputs
    const = spec.constants
    p = layer.params
    if np.any(spec.alpha_out < 0) or np.any(spec.alpha_out >= 1):
        raise QuantizeError("readout decay alpha_out must lie in [0, 1)")
    if neuron in ("lif", "alif"):
        for name in p:
            if np.any(p[name] <= 0) or np.any(p[name] >= 1):
                raise QuantizeError(f"{neuron} decay {name} must lie in (0, 1)")
    else:
        delta = float(const["delta"])
        dw = delta * np.abs(p["omega"])
        if np.any(dw > 1):
            raise QuantizeError(f"BRF neuron {int(np.argmax(dw))} has delta*omega = {dw.max():.4g} > 1: "
                                "p(omega) is not real")
        if not 0 < delta <= 1:
            raise QuantizeError(f"BRF delta = {delta} outside (0, 1]")
        if not 0 <= const["gamma"] < 1:
            raise QuantizeError("BRF gamma must lie in [0, 1)")

    rng = np.random.default_rng(0)
    if calib_x is None:
        calib_x = (rng.random((16, 64, ni)) < 0.2).astype(np.float64)
    calib_x = np.asarray(calib_x, dtype=np.float64)
    xmax = float(np.abs(calib_x).max()) if calib_x.size else 1.0
    xmax = max(xmax, 1.0)   # the bias column needs 1.0 (§3.1)
    if xmax > 32767:
        raise QuantizeError(f"inputs reach {xmax:.4g}: beyond the int16 input range")
    f_x = _frac_bits(xmax, 32767, 14)

    room = headroom if learn == "all" else 1.0
    parts = [layer.w_in, layer.bias[:, None]] + ([layer.w_rec] if layer.w_rec is not None else [])
    w_float = np.concatenate(parts, axis=1)
    wmax = float(np.abs(w_float).max())
    f_w = _frac_bits(wmax * room, 32767, 15)
    wo_float = np.concatenate([spec.w_out, spec.b_out[:, None]], axis=1)
    womax = float(np.abs(wo_float).max())
    f_wo = _frac_bits(womax * headroom, 32767, 15)
    if f_w < 0 or f_wo < 0:
        raise QuantizeError(f"weights reach {max(wmax, womax):.4g}: beyond the int16 weight range (|w| < 16384 with headroom)")

    k: dict[str, np.ndarray] = {}
    scalars: dict[str, int] = {}
    f_s = 16 if fs is None else fs
    f_s = min(f_s, f_w + f_x)

    def build(f_s: int, f_e: int) -> QuantizedModel:
        if neuron == "lif":
            k.update(ka=to_q(p["alpha"], FA), kc=to_q(1 - p["alpha"], FA))
            scalars.update(th=int(to_q(const["threshold"], f_s)))
        elif neuron == "alif":
            k.update(ka=to_q(p["alpha"], FA), kc=to_q(1 - p["alpha"], FA), kr=to_q(p["rho"], FA),
                     kr1=to_q(1 - p["rho"], FA))
            scalars.update(th0=int(to_q(const["b0"], f_s)), kba=int(to_q(const["beta_a"], FA)))
        else:
            delta = float(const["delta"])
            om = np.abs(p["omega"])
            pw = (-1.0 + np.sqrt(1.0 - (delta * om) ** 2)) / delta
            k.update(kb=to_q(delta * (pw - np.abs(p["b_offset"])), FA), kw=to_q(delta * om, FA),
                     kc=np.full(n, int(to_q(delta, FA)), dtype=np.int64))
            scalars.update(th=int(to_q(const["threshold"], f_s)), kg=int(to_q(const["gamma"], FA)))
        too_big = [name for name, v in k.items() if np.abs(v).max(initial=0) > fx_spec.A_MAX]
        if too_big or abs(scalars.get("kba", 0)) > fx_spec.A_MAX:
            raise QuantizeError(f"constants {too_big or ['beta_a']} exceed the Q8.24 range (|value| < 16)")
        mant, shift = lr_to_fixed(lr)
        qm = QuantizedModel(neuron=neuron, n_in=ni, n_hidden=n, n_out=c, recurrent=layer.w_rec is not None,
                            formats={"fx": f_x, "fw": f_w, "fwo": f_wo, "fs": f_s, "fe": f_e},
                            w=np.clip(to_q(w_float, f_w), -32768, 32767), wo=np.clip(to_q(wo_float, f_wo), -32768, 32767),
                            k=dict(k), scalars=dict(scalars), kao=to_q(spec.alpha_out, FA),
                            kbo=to_q(1 - spec.alpha_out, FA), chunk=chunk, learn=learn, lr_mant=mant,
                            lr_shift=shift, seed=seed,
                            info={**spec.info, "constants": {kk: float(v) for kk, v in const.items()}})
        qm.check()
        return qm

    from .emulator import Emulator   # the calibration runs the integer model itself (no third copy of f)
    qm = build(f_s, 4 if fe is None else fe)
    xq = qm.quantize_inputs(calib_x[:64])
    labels = None
    if calib_y is not None:
        y = np.asarray(calib_y)[:64]
        labels = np.broadcast_to(y[:, None], xq.shape[:2]) if y.ndim == 1 else y
    trace = Emulator(qm, batch=xq.shape[0]).run(xq, keep=("states",))
    smax = float(np.abs(trace["states"]).max(initial=0)) / 2.0 ** f_s
    if fs is None:
        f_s2 = min(f_s, _frac_bits(max(smax, 1.0) * 4, 2 ** 31 - 1, 20))
        if f_s2 < 8:
            raise QuantizeError(f"neuron states reach {smax:.4g} on the calibration data: beyond the Q.8 state range")
        if f_s2 != f_s:
            qm, f_s = build(f_s2, qm.formats["fe"]), f_s2
    if fe is None:
        emu = Emulator(qm, batch=xq.shape[0], learn=True, stats=True)
        lab = labels if labels is not None else np.zeros(xq.shape[:2], dtype=np.int64)
        emu.run(xq, lab, keep=())
        emax = emu.stats["e_max"] / 2.0 ** qm.formats["fe"]
        f_e = max(0, _frac_bits(max(emax, 2.0 ** -15) * headroom, 32767, 15))
        qm = build(f_s, f_e)
    qm.info["calibration"] = {"x_max": xmax, "state_max": smax, "steps": int(xq.shape[1]), "streams": int(xq.shape[0])}
    return qm


def quantization_report(spec: NetworkSpec, qm: QuantizedModel, x: np.ndarray | None = None,
                        y: np.ndarray | None = None) -> list[str]:
    """What the quantizer changed: formats, rounding errors per tensor, and (with data) readout error vs float."""
    f = qm.formats
    deq = qm.to_spec()
    lines = [f"formats: inputs Q.{f['fx']} int16, hidden weights Q.{f['fw']} int16, readout weights Q.{f['fwo']} "
             f"int16, states Q.{f['fs']} int32, eligibilities Q.{f['fe']} int16, constants Q.{FA} int32"]

    def err(name, a, b):
        e = np.abs(np.asarray(a) - np.asarray(b))
        scale = max(float(np.abs(a).max(initial=0)), 1e-30)
        lines.append(f"  {name:10s} max |error| {e.max(initial=0):.3g} ({100 * e.max(initial=0) / scale:.3f} % of range)")
    lay, dl = spec.layers[0], deq.layers[0]
    err("w_in", lay.w_in, dl.w_in)
    err("bias", lay.bias, dl.bias)
    if lay.w_rec is not None:
        err("w_rec", lay.w_rec, dl.w_rec)
    for name in lay.params:
        err(name, lay.params[name], dl.params[name])
    err("w_out", spec.w_out, deq.w_out)
    err("b_out", spec.b_out, deq.b_out)
    err("alpha_out", spec.alpha_out, deq.alpha_out)
    lines.append(f"learning: {qm.learn}, chunk {qm.chunk}, lr {qm.lr_mant} * 2^-{qm.lr_shift}, "
                 f"SGD rounding shifts {qm.shifts()}")
    if x is not None:
        acc = float_vs_fixed(spec, qm, x, y)
        lines.append(f"expected error on {len(x)} sequences: readout RMS {acc['rms']:.4g} (float RMS {acc['scale']:.4g}), "
                     f"spike agreement {100 * acc['spike_agree']:.2f} %, prediction agreement {100 * acc['pred_agree']:.2f} %")
    return lines


def float_vs_fixed(spec: NetworkSpec, qm: QuantizedModel, x: np.ndarray, y: np.ndarray | None = None,
                   loss_steps: int | None = None) -> dict:
    """Run the float torch model and the integer emulator on the same inputs; compare readouts and predictions."""
    import torch

    from ..model import model_from_spec
    from .emulator import Emulator
    model = model_from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        o_f, z_f = model(torch.as_tensor(x, dtype=torch.float64), return_spikes=True)
    o_f = o_f.numpy()
    z_f = z_f[0].numpy()
    tr = Emulator(qm, batch=len(x)).run(qm.quantize_inputs(x), keep=("outputs", "spikes"))
    o_q = tr["outputs"] / 2.0 ** qm.formats["fs"]
    k = loss_steps or o_f.shape[1]
    pf, pq = o_f[:, -k:].mean(1).argmax(-1), o_q[:, -k:].mean(1).argmax(-1)
    out = {"rms": float(np.sqrt(np.mean((o_f - o_q) ** 2))), "scale": float(np.sqrt(np.mean(o_f ** 2))),
           "spike_agree": float(np.mean(z_f == tr["spikes"])), "pred_agree": float(np.mean(pf == pq))}
    if y is not None:
        out["acc_float"], out["acc_fixed"] = float(np.mean(pf == y)), float(np.mean(pq == y))
    return out


# ------------------------------------------------------------------------------------------ CLI

def add_arguments(parser) -> None:
    parser.add_argument("model", help="float model (.onnx from `hypr-edge train`)")
    parser.add_argument("-o", "--out", help="quantized model file (default: MODEL with suffix .q.npz)")
    parser.add_argument("--task", help="built-in task whose training inputs calibrate the scales (default: the "
                                       "task recorded in the model, else random sparse inputs)")
    parser.add_argument("--data", help="data path for tasks read from files")
    parser.add_argument("--calib", type=int, default=64, help="calibration sequences (default 64)")
    parser.add_argument("--chunk", type=int, default=16, help="on-device chunk length lambda (default 16)")
    parser.add_argument("--learn", choices=LEARN_MODES, default="all", help="what learns on the device (default all)")
    parser.add_argument("--lr", type=float, default=2 ** -10, help="on-device SGD learning rate (default 2^-10)")
    parser.add_argument("--seed", type=lambda s: int(s, 0), default=fx_spec.XORSHIFT_DEFAULT_SEED,
                        help="xorshift32 seed for stochastic rounding")


def run(args) -> int:
    from pathlib import Path

    from ..cli import CommandError
    try:
        from ..onnx_io import load_onnx
        spec = load_onnx(args.model)
    except FileNotFoundError:
        raise CommandError(f"{args.model}: no such file") from None
    except (ValueError, OSError) as err:   # OnnxFormatError and SpecError are ValueErrors
        raise CommandError(f"{args.model}: {err}") from None
    task = args.task or spec.info.get("task")
    x = y = None
    if task:
        from ..tasks import load_task
        try:
            ds = load_task(task, data=args.data)
        except (ValueError, FileNotFoundError) as err:
            raise CommandError(str(err)) from None
        if ds.n_inputs != spec.n_inputs:
            raise CommandError(f"task {task} has {ds.n_inputs} inputs, the model {spec.n_inputs}")
        x, y = ds.x_train[:args.calib], ds.y_train[:args.calib]
    try:
        qm = quantize(spec, calib_x=x, calib_y=y, chunk=args.chunk, learn=args.learn, lr=args.lr, seed=args.seed)
    except QuantizeError as err:
        raise CommandError(str(err)) from None
    if x is None:   # report the expected error on the same kind of random sparse inputs the calibration used
        x = (np.random.default_rng(1).random((32, 64, spec.n_inputs)) < 0.2).astype(np.float64)
    out = Path(args.out) if args.out else Path(args.model).with_suffix(".q.npz")
    qm.save(out)
    print(f"calibrated on {'task ' + task if task else 'random sparse inputs'}")
    for line in quantization_report(spec, qm, x[:32], None if y is None else y[:32]):
        print(line)
    print(f"wrote {out} (hash 0x{qm.model_hash():08x})")
    return 0
