"""NetworkSpec -> QuantizedModel (docs/fixed-point.md §3, §4), its report, and `hypr-edge quantize`."""
from __future__ import annotations

import math

import numpy as np

from ..network_spec import NetworkSpec
from ..neurons import make_neuron
from . import spec as fx_spec
from .emulator import Emulator
from .qmodel import LEARN_MODES, QuantizedModel, QuantizeError, check_eligibility_bits
from .spec import ELIG_BITS, FA, elig_bounds, to_q

__all__ = ["QuantizedModel", "QuantizeError", "quantize", "quantization_report", "float_vs_fixed", "lr_to_fixed"]


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
    mant = int(round(lr * 2 ** shift))
    if mant == 0:   # would silently switch learning off
        raise QuantizeError(f"learning rate {lr:g} is below the smallest the device represents (2^-41)")
    return mant, shift


def quantize(spec: NetworkSpec, *, calib_x: np.ndarray | None = None, calib_y: np.ndarray | None = None,
             chunk: int = 16, learn: str = "all", lr: float = 2 ** -10, seed: int = fx_spec.XORSHIFT_DEFAULT_SEED,
             fs: int | None = None, fe: int | None = None, headroom: float = 2.0,
             eligibility_bits: int = 16) -> QuantizedModel:
    """Choose formats (§3), round every parameter, and calibrate the state and eligibility scales on `calib_x`
    (float inputs (B, T, n_in); random sparse inputs in [0, 1] when None) by running the emulator itself.
    eligibility_bits: storage of the hidden eligibilities, 16 or 8 (docs/fixed-point.md §2.1)."""
    spec.validate()
    check_eligibility_bits(eligibility_bits)
    if len(spec.layers) != 1:
        raise QuantizeError(f"the device runs one hidden layer; this network has {len(spec.layers)}")
    layer = spec.layers[0]
    neuron, n, ni, c = spec.neuron, layer.size, spec.n_inputs, spec.n_outputs
    const = spec.constants
    p = layer.params
    if np.any(spec.alpha_out < 0) or np.any(spec.alpha_out >= 1):
        raise QuantizeError("readout decay alpha_out must lie in [0, 1)")
    model = make_neuron(neuron, const)
    try:
        model.fixed_check(p)
    except ValueError as err:
        raise QuantizeError(str(err)) from None

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

    f_s = 16 if fs is None else fs
    f_s = min(f_s, f_w + f_x)
    k_real, scalars_real = model.fixed_values(p)
    k = {name: to_q(k_real[name], FA) for name in model.fixed_consts}

    def build(f_s: int, f_e: int, bits: int = eligibility_bits) -> QuantizedModel:
        scalars = {name: int(to_q(scalars_real[name], f_s if sc.fmt == "fs" else FA))
                   for name, sc in model.fixed_scalars.items()}
        fa_values = [*k.items(), *((n, scalars[n]) for n, sc in model.fixed_scalars.items() if sc.fmt == "fa")]
        too_big = [name for name, v in fa_values if np.abs(v).max(initial=0) > fx_spec.A_MAX]
        if too_big:
            raise QuantizeError(f"constants {too_big} exceed the Q8.24 range (|value| < 16)")
        mant, shift = lr_to_fixed(lr)
        qm = QuantizedModel(neuron=neuron, n_in=ni, n_hidden=n, n_out=c, recurrent=layer.w_rec is not None,
                            formats={"fx": f_x, "fw": f_w, "fwo": f_wo, "fs": f_s, "fe": f_e},
                            w=np.clip(to_q(w_float, f_w), -32768, 32767), wo=np.clip(to_q(wo_float, f_wo), -32768, 32767),
                            k={n: v.copy() for n, v in k.items()}, scalars=scalars, kao=to_q(spec.alpha_out, FA),
                            kbo=to_q(1 - spec.alpha_out, FA), chunk=chunk, learn=learn, lr_mant=mant,
                            lr_shift=shift, seed=seed, eligibility_bits=bits,
                            info={**spec.info, "constants": {kk: float(v) for kk, v in const.items()}})
        qm.check()
        return qm

    # the calibration runs the integer model itself (no third copy of f), with int16 eligibilities whatever the
    # storage: the largest |e| it records is then the same for both widths, and only the range it must fit differs
    qm = build(f_s, 4 if fe is None else fe, 16)
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
            qm, f_s = build(f_s2, qm.formats["fe"], 16), f_s2
    if fe is None:
        emu = Emulator(qm, batch=xq.shape[0], learn=True, stats=True)
        lab = labels if labels is not None else np.zeros(xq.shape[:2], dtype=np.int64)
        emu.run(xq, lab, keep=())
        emax = emu.stats["e_max"] / 2.0 ** qm.formats["fe"]
        f_e = max(0, _frac_bits(max(emax, 2.0 ** -15) * headroom, elig_bounds(eligibility_bits)[1], 15))
        qm = build(f_s, f_e)
    elif qm.eligibility_bits != eligibility_bits:
        qm = build(f_s, fe)
    qm.info["calibration"] = {"x_max": xmax, "state_max": smax, "steps": int(xq.shape[1]), "streams": int(xq.shape[0])}
    return qm


def quantization_report(spec: NetworkSpec, qm: QuantizedModel, x: np.ndarray | None = None,
                        y: np.ndarray | None = None) -> list[str]:
    """What the quantizer changed: formats, rounding errors per tensor, and (with data) readout error vs float."""
    f = qm.formats
    deq = qm.to_spec()
    lines = [f"formats: inputs Q.{f['fx']} int16, hidden weights Q.{f['fw']} int16, readout weights Q.{f['fwo']} "
             f"int16, states Q.{f['fs']} int32, eligibilities Q.{f['fe']} int{qm.eligibility_bits}, constants Q.{FA} int32"]

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
    from ..arguments import int_in, positive_float, positive_int, seed32
    from .qmodel import MAX_CHUNK
    parser.add_argument("model", help="float model (.onnx from `hypr-edge train`)")
    parser.add_argument("-o", "--out", help="quantized model file (default: MODEL with suffix .q.npz)")
    parser.add_argument("--task", help="built-in task whose training inputs calibrate the scales (default: the "
                                       "task recorded in the model, else random sparse inputs)")
    parser.add_argument("--data", help="data path for tasks read from files")
    parser.add_argument("--calib", type=positive_int, default=64, help="calibration sequences (default 64)")
    parser.add_argument("--chunk", type=int_in(1, MAX_CHUNK), default=16, help="on-device chunk length lambda (default 16)")
    parser.add_argument("--learn", choices=LEARN_MODES, default="all", help="what learns on the device (default all)")
    parser.add_argument("--lr", type=positive_float, default=2 ** -10, help="on-device SGD learning rate (default 2^-10)")
    parser.add_argument("--seed", type=seed32, default=fx_spec.XORSHIFT_DEFAULT_SEED,
                        help="xorshift32 seed for stochastic rounding")
    parser.add_argument("--eligibility-bits", type=int, choices=ELIG_BITS, default=16,
                        help="storage of the hidden eligibilities on the device: 16 (default) or 8, which saves a "
                             "byte per synapse and state entry (docs/fixed-point.md §2.1)")


def run(args) -> int:
    from pathlib import Path

    from ..arguments import check_output_file
    from ..errors import CommandError
    out = Path(args.out) if args.out else Path(args.model).with_suffix(".q.npz")
    check_output_file(out, inputs=(args.model,))
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
        qm = quantize(spec, calib_x=x, calib_y=y, chunk=args.chunk, learn=args.learn, lr=args.lr, seed=args.seed,
                      eligibility_bits=args.eligibility_bits)
    except QuantizeError as err:
        raise CommandError(str(err)) from None
    if x is None:   # report the expected error on the same kind of random sparse inputs the calibration used
        x = (np.random.default_rng(1).random((32, 64, spec.n_inputs)) < 0.2).astype(np.float64)
    qm.save(out)
    print(f"calibrated on {'task ' + task if task else 'random sparse inputs'}")
    for line in quantization_report(spec, qm, x[:32], None if y is None else y[:32]):
        print(line)
    print(f"wrote {out} (hash 0x{qm.model_hash():08x})")
    return 0
