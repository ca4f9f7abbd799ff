"""`hypr-edge adapt`: on-device adaptation to a new speaker (docs/adaptation.md).

Per held-out speaker S of the spoken-digit task (`fsdd`): pretrain in float on the other speakers (or load a
given model.onnx), export ONNX, quantize it through the public path (load_onnx -> quantize), then stream S's
adaptation takes (5-49) once through the integer emulator in learning mode and measure S's test takes (0-4)
before and after. The float counterpart learns on the same stream with the same learning rule and rate, so the
two gains can be compared.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import CommandError
from .fixed.emulator import Emulator
from .fixed.quantize import LEARN_MODES, QuantizedModel, QuantizeError, quantize
from .checkpoint import Checkpoint
from .gradient_methods import gradients
from .harvest import harvest
from .host.protocol import ResetMode
from .model import RSNN, model_from_spec
from .onnx_io import export_onnx, load_onnx
from .qemu import QemuError, QemuSession, resolve_elf
from .targets.cortex_m import FirmwareBuildError, build_firmware
from .targets.registry import generate
from .tasks.fsdd import fsdd_speaker_split, list_recordings, speakers_of
from .train import TrainConfig, evaluate, new_model, train
from .train import config_from_args as train_config

# Parameters the device learns in each mode (docs/fixed-point.md §2, §9): theta is never learned on the device.
LEARNED = {"readout": ("readout.w_out", "readout.b_out"),
           "all": ("layers.0.w_in", "layers.0.bias", "layers.0.w_rec", "readout.w_out", "readout.b_out")}


@dataclass
class AdaptConfig:
    """Pretraining (float) and on-device learning settings."""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(neuron="brf", method="hypr", hidden=[64],
                                                                   epochs=8, lr=1e-2, chunk=32))
    device_chunk: int = 32      # lambda on the device
    learn: str = "all"          # "readout" or "all"
    device_lr: float = 2 ** -5  # SGD rate on the device (and in the float counterpart); swept in docs/adaptation.md
    calib: int = 64             # pretraining sequences that calibrate the fixed-point scales


# ------------------------------------------------------------------------------------- building blocks


def step_labels(y: np.ndarray, steps: int, loss_steps: int | None) -> np.ndarray:
    """(n, T) per-step labels for the device: the class on the loss-carrying steps, -1 (no loss) before."""
    k = steps if loss_steps is None else loss_steps
    lab = np.full((len(y), steps), -1, dtype=np.int64)
    lab[:, steps - k:] = np.asarray(y)[:, None]
    return lab


def fixed_outputs(qm: QuantizedModel, x: np.ndarray, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Integer inference of float inputs (n, T, n_in): readout (n, T, C) in Q.fs and hidden spikes (n, T, N)."""
    outs, spikes = [], []
    for i in range(0, len(x), batch):
        xq = qm.quantize_inputs(x[i:i + batch])
        tr = Emulator(qm, batch=len(xq)).run(xq, keep=("outputs", "spikes"))
        outs.append(tr["outputs"])
        spikes.append(tr["spikes"])
    return np.concatenate(outs), np.concatenate(spikes)


def fixed_accuracy(qm: QuantizedModel, x: np.ndarray, y: np.ndarray, loss_steps: int | None) -> float:
    """The device's decision: argmax of the readout summed over the loss-carrying steps (as `predict`)."""
    o, _ = fixed_outputs(qm, x)
    k = o.shape[1] if loss_steps is None else loss_steps
    return float(np.mean(o[:, -k:].sum(1).argmax(-1) == y))


def fixed_adapt(qm: QuantizedModel, x: np.ndarray, y: np.ndarray, loss_steps: int | None,
                progress: bool = True, desc: str = "device") -> QuantizedModel:
    """Stream (n, T) utterances once through one emulated device in learning mode; returns the model with the
    learned weights. The device resets its neuron state (not its weights) at the start of every utterance and
    applies the last partial chunk at its end, as the host would with hypr_reset_state / hypr_end_chunk."""
    emu = Emulator(qm, batch=1, learn=True)
    xq, lab = qm.quantize_inputs(x), step_labels(y, x.shape[1], loss_steps)
    for i in tqdm(range(len(x)), desc=desc, unit="utt", disable=not progress, leave=False):
        emu.reset_state()
        emu.run(xq[i:i + 1], lab[i:i + 1], keep=())
    return dataclasses.replace(qm, w=emu.w[0].copy(), wo=emu.wo[0].copy())


def device_lr(qm: QuantizedModel) -> float:
    """The learning rate the device really uses (mantissa and shift of the quantized model)."""
    return qm.lr_mant / 2.0 ** qm.lr_shift


def float_adapt(model: RSNN, x: np.ndarray, y: np.ndarray, loss_steps: int | None, chunk: int, learn: str,
                lr: float, progress: bool = True, desc: str = "float") -> RSNN:
    """The float counterpart of `fixed_adapt`, in place: plain SGD with float HYPR on the same stream, one
    utterance at a time, only the parameters the device learns.

    Same rate semantics as the device: the device's chunk gradient is the *sum* of the per-step losses'
    gradients (no 1/K), so the mean-loss gradient of `gradients` is scaled by K. One update per utterance (the
    sum of its chunk gradients) instead of one per chunk: `gradients` runs a whole sequence with fixed weights;
    with the loss on the last K steps only, the device's updates inside one utterance differ from this by the
    change of weights between its last chunks, which is second order in the learning rate."""
    params = dict(model.named_parameters())
    names = [n for n in LEARNED[learn] if n in params]
    k = x.shape[1] if loss_steps is None else loss_steps
    xt, yt = torch.as_tensor(x, dtype=model.readout.w_out.dtype), torch.as_tensor(y)
    for i in tqdm(range(len(x)), desc=desc, unit="utt", disable=not progress, leave=False):
        g = gradients(model, xt[i:i + 1], yt[i:i + 1], method="hypr", chunk=chunk, loss_steps=loss_steps)
        with torch.no_grad():
            for name in names:
                params[name].sub_(lr * k * g[name])
    return model


def weight_change(before: QuantizedModel, after: QuantizedModel) -> dict:
    """What the device learned: share of changed weights and the largest change, in LSB, per matrix."""
    out = {}
    for name in ("w", "wo"):
        d = np.abs(getattr(after, name).astype(np.int64) - getattr(before, name).astype(np.int64))
        out["hidden" if name == "w" else "readout"] = {"changed": float(np.mean(d > 0)),
                                                      "max_lsb": int(d.max(initial=0)),
                                                      "mean_lsb": float(d.mean())}
    return out


def qemu_adapt(qm: QuantizedModel, learned: QuantizedModel, ada, folder: Path, target: str = "cortex-m4",
               progress: bool = True) -> dict:
    """The same scenario on the Cortex-M firmware in QEMU, over the board protocol: test takes before, one
    learning pass over the adaptation takes, the learned weights read back and compared with the emulator's
    (`learned`), test takes after. Then what the device learned is taken back: its learning state as a checkpoint
    (folder/device.ckpt), harvested into a model (folder/model.harvested.q.npz), regenerated as firmware
    (folder/regenerated) and booted: its test-take outputs must equal the adapted device's, step for step.
    Needs arm-none-eabi-gcc and qemu-system-arm."""
    generate(qm, folder, target)
    elf, board_name = resolve_elf(str(folder), None)
    build_firmware(folder, board_name)
    xt, xa = qm.quantize_inputs(ada.x_test).astype(np.int16), qm.quantize_inputs(ada.x_train).astype(np.int16)
    session = QemuSession(elf, board_name).start()
    board = session.connect()
    try:
        if board.hello().model_hash != qm.model_hash():
            raise RuntimeError("the firmware in QEMU runs another model")
        board.reset(ResetMode.FULL)
        before = qemu_scores(board, xt, ada, progress, "qemu before")[0]
        for i in tqdm(range(len(xa)), desc="qemu learn", unit="utt", disable=not progress, leave=False):
            board.run_sequence(xa[i], learn=True, label=int(ada.y_train[i]), loss_steps=ada.loss_steps)
        same = (np.array_equal(board.read_tensor("w_readout"), learned.wo.ravel())
                and np.array_equal(board.read_tensor("w_hidden"), learned.w.ravel()))
        after, outputs = qemu_scores(board, xt, ada, progress, "qemu after")
        ck = Checkpoint.from_board(board, qm, utterances=len(xa))
    finally:
        session.stop(board)
        board.close()
    ck.save(folder / "device.ckpt")
    harvested = harvest(ck)
    harvested.save(folder / "model.harvested.q.npz")
    regen = folder / "regenerated"
    generate(harvested, regen, target)
    build_firmware(regen, board_name)
    session = QemuSession(resolve_elf(str(regen), board_name)[0], board_name).start()
    board = session.connect()
    try:
        if board.hello().model_hash != harvested.model_hash():
            raise RuntimeError("the regenerated firmware in QEMU runs another model")
        regen_after, regen_outputs = qemu_scores(board, xt, ada, progress, "regenerated")
    finally:
        session.stop(board)
        board.close()
    return {"board": board_name, "qemu_before": before, "qemu_after": after, "weights_equal_emulator": bool(same),
            "checkpoint_updates": ck.updates,
            "harvested_equals_emulator": bool(np.array_equal(harvested.w, learned.w)
                                              and np.array_equal(harvested.wo, learned.wo)),
            "regenerated_after": regen_after,
            "regenerated_outputs_equal_device": bool(np.array_equal(regen_outputs, outputs))}


def qemu_scores(board, xt: np.ndarray, ada, progress: bool, desc: str) -> tuple[float, np.ndarray]:
    """Inference of the test takes on a device: accuracy (the readout summed over the loss window) and the outputs
    (n, T, C) of every step."""
    k = ada.loss_steps or ada.steps
    outs = np.stack([board.run_sequence(xt[i])[0]
                     for i in tqdm(range(len(xt)), desc=desc, unit="utt", disable=not progress, leave=False)])
    return float(np.mean(outs[:, -k:].astype(np.int64).sum(1).argmax(-1) == ada.y_test)), outs


# ------------------------------------------------------------------------------------- one speaker


def adapt_speaker(data, speaker: str, cfg: AdaptConfig, out: Path, model_path: str | None = None,
                  progress: bool = True, split=None, qemu: bool = False) -> dict:
    """The whole scenario for one held-out speaker; writes out/{speaker}/model.onnx and model.q.npz."""
    torch.set_num_threads(1)   # long single-stream loops: one thread is as fast and leaves the other core free
    t0 = time.perf_counter()
    pre, ada = split if split is not None else fsdd_speaker_split(data, speaker, seed=cfg.train.seed)
    if model_path is None:
        from .train_memory import check_training_memory
        check_training_memory(cfg.train, pre)   # before any folder is made: refuse what cannot fit
    folder = out / speaker
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / "model.onnx"
    result: dict = {"speaker": speaker, "adapt_utterances": len(ada.x_train), "test_utterances": len(ada.x_test),
                    "model": str(onnx_path if model_path is None else model_path)}
    if model_path is None:
        model = new_model(cfg.train, pre)
        model.info.update(held_out_speaker=speaker)
        m = train(model, pre, cfg.train, progress=progress)
        result["pretrain"] = {"held_out_all_takes_accuracy": m["test_accuracy"], "seconds": m["seconds"],
                              "train_accuracy": m["history"]["train_accuracy"][-1]}
        export_onnx(model.to_spec(), onnx_path)
    else:
        onnx_path = Path(model_path)
    spec = load_onnx(onnx_path)
    if spec.n_inputs != ada.n_inputs or spec.n_outputs != ada.n_classes:
        raise ValueError(f"{onnx_path}: the model has {spec.n_inputs} inputs / {spec.n_outputs} outputs, the task "
                         f"{ada.n_inputs} / {ada.n_classes}")
    qm = quantize(spec, calib_x=pre.x_train[:cfg.calib], calib_y=pre.y_train[:cfg.calib], chunk=cfg.device_chunk,
                  learn=cfg.learn, lr=cfg.device_lr)
    qm.save(folder / "model.q.npz")
    lr = device_lr(qm)
    ls = ada.loss_steps

    # fixed point: before, one streaming pass of learning, after
    fixed_before = fixed_accuracy(qm, ada.x_test, ada.y_test, ls)
    learned = fixed_adapt(qm, ada.x_train, ada.y_train, ls, progress, desc=f"{speaker} device")
    fixed_after = fixed_accuracy(learned, ada.x_test, ada.y_test, ls)
    learned.save(folder / "model.adapted.q.npz")
    if qemu:
        result["qemu"] = qemu_adapt(qm, learned, ada, folder / "firmware", progress=progress)

    # float: the ONNX model itself, the same stream, rule and rate
    fmodel = model_from_spec(spec, dtype=torch.float64)
    x_test = ada.x_test.astype(np.float64)
    float_before = evaluate(fmodel, x_test, ada.y_test, ls)["accuracy"]
    start = {n: p.detach().clone() for n, p in fmodel.named_parameters()}
    float_adapt(fmodel, ada.x_train, ada.y_train, ls, cfg.device_chunk, cfg.learn, lr, progress,
                desc=f"{speaker} float")
    float_learned = {n: float((p.detach() - start[n]).abs().max()) for n, p in fmodel.named_parameters()}
    float_after = evaluate(fmodel, x_test, ada.y_test, ls)["accuracy"]

    result.update(float_before=float_before, float_after=float_after, fixed_before=fixed_before,
                  fixed_after=fixed_after, float_gain=float_after - float_before,
                  fixed_gain=fixed_after - fixed_before, learn=cfg.learn, device_lr=lr,
                  device_chunk=cfg.device_chunk, updates_per_utterance=-(-ada.steps // cfg.device_chunk),
                  learned=weight_change(qm, learned), float_learned_max_change=float_learned,
                  formats=dict(qm.formats),
                  seconds=time.perf_counter() - t0)
    return result


# ------------------------------------------------------------------------------------- plots


def plot_accuracy(results: list[dict], path: Path) -> None:
    import matplotlib  # heavy, and only the plots need it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [r["speaker"] for r in results]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 + 1.3 * len(names)), 4.2))
    bars = [("float_before", "float before", "#9ecae1"), ("float_after", "float after", "#3182bd"),
            ("fixed_before", "fixed before", "#fdae6b"), ("fixed_after", "fixed after", "#e6550d")]
    for i, (key, label, color) in enumerate(bars):
        ax.bar(x + (i - 1.5) * 0.2, [100 * r[key] for r in results], 0.2, label=label, color=color)
    ax.set_xticks(x, names)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 115), yticks=range(0, 101, 20),
           title=f"held-out speaker's test takes, before / after learning ({results[0]['learn']})")
    ax.legend(ncol=4, fontsize=8, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_raster(x: np.ndarray, spikes: np.ndarray, title: str, path: Path) -> None:
    """One utterance: input features (T, n_in) as an image above the hidden spikes (T, N) as a raster."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
    a1.imshow(x.T, aspect="auto", origin="lower", cmap="magma", interpolation="nearest")
    a1.set(ylabel="input channel\n(normalised log-mel)", title=title)
    t, n = np.nonzero(spikes)
    a2.scatter(t, n, s=4, marker="|", color="k")
    a2.set(xlabel="frame (10 ms)", ylabel="hidden neuron", ylim=(-0.5, spikes.shape[1] - 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(results: list[dict], cfg: AdaptConfig, out: Path, data, raster_speaker: str) -> list[Path]:
    """results.json, accuracy.png, and raster.png of the first test utterance of `raster_speaker` after learning."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"config": asdict(cfg), "speakers": results}, indent=2))
    plot_accuracy(results, out / "accuracy.png")
    ada = fsdd_speaker_split(data, raster_speaker, seed=cfg.train.seed).adapt
    qm = QuantizedModel.load(out / raster_speaker / "model.adapted.q.npz")
    _, spikes = fixed_outputs(qm, ada.x_test[:1])
    plot_raster(ada.x_test[0], spikes[0], f"{raster_speaker}: digit {ada.y_test[0]} (test take), device after "
                f"learning, {spikes[0].mean():.1%} spikes", out / "raster.png")
    return [out / "results.json", out / "accuracy.png", out / "raster.png"]


def table(results: list[dict], mean: bool = True) -> list[str]:
    """The before/after table, float and fixed point, in percent (with a mean row over several speakers)."""
    lines = [f"{'speaker':10s} {'float before':>12s} {'after':>6s} {'gain':>6s}   {'fixed before':>12s} {'after':>6s} "
             f"{'gain':>6s}   {'gain diff':>9s}"]
    for r in results:
        lines.append(f"{r['speaker']:10s} {100 * r['float_before']:11.1f}% {100 * r['float_after']:5.1f}% "
                     f"{100 * r['float_gain']:+5.1f}   {100 * r['fixed_before']:11.1f}% {100 * r['fixed_after']:5.1f}% "
                     f"{100 * r['fixed_gain']:+5.1f}   {100 * (r['fixed_gain'] - r['float_gain']):+8.1f}")
    if mean and len(results) > 1:
        mean = {k: np.mean([r[k] for r in results]) for k in ("float_before", "float_after", "fixed_before",
                                                              "fixed_after", "float_gain", "fixed_gain")}
        lines.append(f"{'mean':10s} {100 * mean['float_before']:11.1f}% {100 * mean['float_after']:5.1f}% "
                     f"{100 * mean['float_gain']:+5.1f}   {100 * mean['fixed_before']:11.1f}% "
                     f"{100 * mean['fixed_after']:5.1f}% {100 * mean['fixed_gain']:+5.1f}   "
                     f"{100 * (mean['fixed_gain'] - mean['float_gain']):+8.1f}")
    return lines


# ------------------------------------------------------------------------------------- command line


def add_arguments(p) -> None:
    from .arguments import positive_float, positive_int, seed32
    d = AdaptConfig()
    p.add_argument("--data", required=True, help="FSDD folder (holding recordings/ or the WAVs)")
    p.add_argument("--speaker", default="all", help="held-out speaker(s), comma-separated (default: all)")
    p.add_argument("--model", help="pretrained model.onnx to adapt instead of pretraining (one --speaker only; "
                                   "it must not have seen that speaker)")
    p.add_argument("--neuron", default=d.train.neuron, help=f"pretraining neuron model (default {d.train.neuron})")
    p.add_argument("--method", default=d.train.method, help="pretraining gradient: bptt or hypr (default hypr)")
    p.add_argument("--hidden", default=str(d.train.hidden[0]), help=f"hidden size (default {d.train.hidden[0]})")
    p.add_argument("--epochs", type=positive_int, default=d.train.epochs, help=f"pretraining epochs (default {d.train.epochs})")
    p.add_argument("--lr", type=positive_float, default=d.train.lr, help=f"pretraining Adam rate (default {d.train.lr:g})")
    p.add_argument("--chunk", type=positive_int, default=d.train.chunk, help="pretraining HYPR chunk (default 32)")
    p.add_argument("--device-chunk", type=positive_int, default=d.device_chunk, help="on-device chunk lambda (default 32)")
    p.add_argument("--learn", choices=LEARN_MODES, default=d.learn, help=f"what learns on the device (default {d.learn})")
    p.add_argument("--device-lr", type=positive_float, default=d.device_lr,
                   help=f"on-device SGD rate, also used by the float counterpart (default {d.device_lr:g})")
    p.add_argument("--qemu", action="store_true", help="also run the scenario on the Cortex-M4 firmware in QEMU "
                                                        "(needs arm-none-eabi-gcc, qemu-system-arm)")
    p.add_argument("--seed", type=seed32, default=0)
    p.add_argument("--out", default="runs/adapt", help="output folder (default runs/adapt)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def config_from_args(args) -> AdaptConfig:
    tc = train_config(argparse.Namespace(**dict(vars(args), no_recurrent=False, alpha_out=0.9, batch_size=32)))
    if args.device_chunk < 1:
        raise CommandError("--device-chunk must be >= 1")
    if args.device_lr <= 0:
        raise CommandError("--device-lr must be > 0")
    if len(tc.hidden) != 1:
        raise CommandError("the device runs one hidden layer: give one --hidden size")
    return AdaptConfig(train=tc, device_chunk=args.device_chunk, learn=args.learn, device_lr=args.device_lr)


def run(args) -> int:
    from .arguments import check_output_dir
    cfg = config_from_args(args)
    check_output_dir(args.out)
    try:
        known = speakers_of(list_recordings(args.data))
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    speakers = known if args.speaker == "all" else [s.strip() for s in args.speaker.split(",")]
    for s in speakers:
        if s not in known:
            raise CommandError(f"unknown speaker {s!r}; known speakers: {', '.join(known)}")
    if args.model and len(speakers) != 1:
        raise CommandError("--model adapts one pretrained model: give exactly one --speaker")
    if args.model and not Path(args.model).is_file():
        raise CommandError(f"{args.model}: no such file")
    if args.qemu and not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        raise CommandError("--qemu needs arm-none-eabi-gcc and qemu-system-arm on the PATH")
    out = Path(args.out)
    results = []
    for s in tqdm(speakers, desc="speakers", unit="spk", disable=args.quiet or len(speakers) == 1):
        try:
            results.append(adapt_speaker(args.data, s, cfg, out, args.model, progress=not args.quiet, qemu=args.qemu))
        except (ValueError, QuantizeError, FileNotFoundError, FirmwareBuildError, QemuError) as err:
            raise CommandError(str(err)) from None
        r = results[-1]
        print(f"{s}: fixed {100 * r['fixed_before']:.1f}% -> {100 * r['fixed_after']:.1f}%, float "
              f"{100 * r['float_before']:.1f}% -> {100 * r['float_after']:.1f}% ({r['seconds']:.0f} s)", flush=True)
        lh, lo = r["learned"]["hidden"], r["learned"]["readout"]
        print(f"{s}: device changed {100 * lh['changed']:.0f} % of the hidden weights (max {lh['max_lsb']} LSB) and "
              f"{100 * lo['changed']:.0f} % of the readout weights (max {lo['max_lsb']} LSB)")
        if "qemu" in r:
            q = r["qemu"]
            print(f"{s}: QEMU {q['board']} {100 * q['qemu_before']:.1f}% -> {100 * q['qemu_after']:.1f}%, learned "
                  f"weights {'bit-identical to' if q['weights_equal_emulator'] else 'DIFFERENT from'} the emulator's")
            print(f"{s}: device checkpoint ({q['checkpoint_updates']} updates) -> harvest -> regenerated firmware: "
                  f"{100 * q['regenerated_after']:.1f}%, test-take outputs "
                  f"{'bit-identical to' if q['regenerated_outputs_equal_device'] else 'DIFFERENT from'} the adapted "
                  f"device's; harvested weights {'equal' if q['harvested_equals_emulator'] else 'DIFFER from'} "
                  f"the emulator's")
    files = write_outputs(results, cfg, out, args.data, speakers[0])
    print(f"on-device learning: {cfg.learn} weights, one pass over each speaker's takes 5+, chunk "
          f"{cfg.device_chunk}, lr {results[0]['device_lr']:g}; test accuracy on takes 0-4:")
    for line in table(results):
        print(line)
    print("wrote " + ", ".join(map(str, files)))
    return 0
