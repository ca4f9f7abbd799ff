"""Training loop and the `hypr-edge train` command: Adam on BPTT or HYPR gradients, learning curves, ONNX artifact."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .gradient_methods import gradients, predict, sequence_loss
from .model import RSNN, build_model
from .neurons import MODELS, make_neuron
from .tasks.base import Dataset


class TrainingDiverged(ArithmeticError):
    pass


@dataclass
class TrainConfig:
    neuron: str = "brf"
    method: str = "hypr"
    chunk: int = 32
    hidden: list[int] = field(default_factory=lambda: [64])
    recurrent: bool = True
    alpha_out: float = 0.9
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-2
    theta_lr: float | None = None  # learning rate of the neuron parameters (omega, b', time constants); None: derived
    clip: float = 1.0
    scale_lr: bool = True
    schedule: str = "cosine"  # learning rate over the run: "cosine" (decays to 0 at the last step) or "constant"
    seed: int = 0


def resonant_init(neuron: str, band: tuple[float, float] | None) -> dict:
    """Initialisation ranges that suit the task's frequency band (cycles per step), if the task knows it and the
    neuron model has such ranges (BRF: omega resonating in the band)."""
    return make_neuron(neuron).band_init(band)


def memory_init(neuron: str, memory: int | None) -> dict:
    """Initialisation ranges that hold a state for `memory` steps, if the task says how long (BRF: small b')."""
    return make_neuron(neuron).memory_init(memory)


def theta_lr(cfg: TrainConfig, data: Dataset) -> float:
    """The neuron parameters' learning rate: cfg.theta_lr, else cfg.lr, but at most 10 / memory on a task that holds
    a state for `memory` steps. An Adam step moves omega by about the learning rate, which turns a BRF neuron's
    phase after M steps by delta * lr * M radians (and b' its amplitude by as much): at lr 0.03 and M = 10,000 that
    is 3 rad, every step, and what the readout has learnt about the phase is lost. 10 / M keeps it at 0.1 rad."""
    if cfg.theta_lr is not None:
        return cfg.theta_lr
    return cfg.lr if data.memory is None else min(cfg.lr, 10.0 / data.memory)


SCHEDULES = ("cosine", "constant")
WEIGHT_LR_SCALE = 1


def lr_factor(schedule: str, total_steps: int):
    """The learning rate's factor at optimizer step k of total_steps."""
    if schedule == "constant":
        return lambda k: 1.0
    if schedule == "cosine":
        return lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total_steps) / total_steps))
    raise ValueError(f"unknown learning rate schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def weight_scale(w: torch.Tensor) -> float:
    """How much larger a weight matrix is than the Xavier initialisation of its shape (RMS over RMS)."""
    n_out, n_in = w.shape
    return max(1.0, float(w.detach().pow(2).mean().sqrt()) / math.sqrt(2.0 / (n_in + n_out)))


def param_groups(model: RSNN, cfg: TrainConfig, data: Dataset) -> list[dict]:
    """Adam's groups: the neuron parameters at theta_lr; every layer's weights and bias at lr times the layer's
    weight scale. Adam moves every weight by about the learning rate whatever its size, and a BRF network's input
    weights start ~50x larger than Xavier's (BRF integrates its current with delta = 0.01): at one learning rate
    for all, they would barely move in relative terms while the readout's change fast.\"\"\"
    groups = [{"params": [getattr(layer, n) for layer in model.layers for n in model.neuron.param_names],
               "lr": theta_lr(cfg, data)}]
    scale = WEIGHT_LR_SCALE if cfg.scale_lr else 0
    for layer in model.layers:
        for w in (layer.w_in, layer.w_rec):
            if w is not None:
                groups.append({"params": [w], "lr": cfg.lr * (weight_scale(w) if scale else 1.0)})
        groups.append({"params": [layer.bias], "lr": cfg.lr * (weight_scale(layer.w_in) if scale else 1.0)})
    groups.append({"params": list(model.readout.parameters()), "lr": cfg.lr})
    return groups


def new_model(cfg: TrainConfig, data: Dataset) -> RSNN:
    model = build_model(cfg.neuron, n_inputs=data.n_inputs, hidden=cfg.hidden, n_outputs=data.n_classes,
                        recurrent=cfg.recurrent, alpha_out=cfg.alpha_out, seed=cfg.seed,
                        **resonant_init(cfg.neuron, data.band), **memory_init(cfg.neuron, data.memory))
    # Initial drive: the first layer's input weights are scaled so that the input current has the neuron model's
    # current_std on the training data, spike-driven weights (recurrent, deeper layers) by its spike_gain: initial
    # spike rates of a few percent on the built-in tasks (bench/accuracy.py).
    nrn = model.neuron
    with torch.no_grad():
        sample = torch.as_tensor(data.x_train[:256])
        sample = sample[sample.ne(0).any(-1)]  # steps with input only: silent stretches (cue) would inflate the scale
        first = model.layers[0]
        first.w_in.mul_(nrn.current_std / (sample @ first.w_in.T).std().clamp_min(1e-6))
        for i, layer in enumerate(model.layers):
            if i:
                layer.w_in.mul_(nrn.spike_gain)
            if layer.w_rec is not None:
                layer.w_rec.mul_(nrn.spike_gain)
    model.info.update(task=data.name, loss_steps=str(data.loss_steps))
    if data.front_end is not None:   # travels to the quantized model: `hypr-edge stream` reads WAVs with it
        model.info["front_end"] = json.dumps(data.front_end)
    return model


EVAL_STEPS = 256_000  # sequences x steps per evaluation batch: memory that does not grow with T


@torch.no_grad()
def evaluate(model: RSNN, x: np.ndarray, y: np.ndarray, loss_steps: int | None, batch: int = 256) -> dict:
    batch = max(1, min(batch, EVAL_STEPS // x.shape[1]))  # the forward pass keeps every step's spikes
    correct, loss, rate = 0, 0.0, 0.0
    for i in range(0, len(x), batch):
        xb, yb = torch.as_tensor(x[i:i + batch]), torch.as_tensor(y[i:i + batch])
        o, spikes = model(xb, return_spikes=True)
        correct += int((predict(o, loss_steps) == yb).sum())
        loss += float(sequence_loss(o, yb, loss_steps)) * len(xb)
        rate += float(torch.stack([z.mean() for z in spikes]).mean()) * len(xb)
    return {"accuracy": correct / len(x), "loss": loss / len(x), "spike_rate": rate / len(x)}


def train(model: RSNN, data: Dataset, cfg: TrainConfig, progress: bool = True) -> dict:
    """Train in place; returns metrics with per-epoch curves."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(param_groups(model, cfg, data), lr=cfg.lr)
    n_batches = int(np.ceil(len(data.x_train) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg.schedule, cfg.epochs * n_batches))
    params = dict(model.named_parameters())
    history = {"epoch": [], "train_loss": [], "train_accuracy": [], "test_loss": [], "test_accuracy": [],
               "spike_rate": [], "seconds": []}
    bar = tqdm(total=cfg.epochs * n_batches, disable=not progress, unit="batch",
               desc=f"{cfg.neuron}/{cfg.method}")
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(data.x_train))
        losses = []
        for b in range(n_batches):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = torch.as_tensor(data.x_train[idx]), torch.as_tensor(data.y_train[idx])
            loss, grads = gradients(model, xb, yb, method=cfg.method, chunk=cfg.chunk,
                                    loss_steps=data.loss_steps, return_loss=True)
            if not torch.isfinite(loss):  # e.g. a BRF omega trained past delta*omega = 1, where p(omega) is undefined
                raise TrainingDiverged(f"training diverged in epoch {epoch}, batch {b}: the loss is {float(loss)}; "
                                       f"try a smaller --lr (now {cfg.lr:g})")
            for name, g in grads.items():
                params[name].grad = g
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            sched.step()
            losses.append(float(loss))
            bar.update()
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
        train_eval = evaluate(model, data.x_train[:1000], data.y_train[:1000], data.loss_steps)
        test_eval = evaluate(model, data.x_test, data.y_test, data.loss_steps)
        history["epoch"].append(epoch)
        history["train_loss"].append(float(np.mean(losses)))
        history["train_accuracy"].append(train_eval["accuracy"])
        history["test_loss"].append(test_eval["loss"])
        history["test_accuracy"].append(test_eval["accuracy"])
        history["spike_rate"].append(test_eval["spike_rate"])
        history["seconds"].append(time.perf_counter() - start)
        bar.set_description(f"{cfg.neuron}/{cfg.method} epoch {epoch} test {test_eval['accuracy']:.1%}")
    bar.close()
    return {"config": asdict(cfg), "task": data.name, "history": history,
            "test_accuracy": history["test_accuracy"][-1], "seconds": history["seconds"][-1]}


def plot_curves(metrics: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = metrics["history"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(h["epoch"], h["train_loss"], "o-", label="train")
    ax1.plot(h["epoch"], h["test_loss"], "o-", label="test")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax2.plot(h["epoch"], np.array(h["train_accuracy"]) * 100, "o-", label="train")
    ax2.plot(h["epoch"], np.array(h["test_accuracy"]) * 100, "o-", label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax1, ax2):
        ax.legend()
        ax.grid(alpha=0.3)
    cfg = metrics["config"]
    fig.suptitle(f"{metrics['task']}: {cfg['neuron'].upper()} {cfg['method'].upper()}"
                 + (f" (chunk {cfg['chunk']})" if cfg["method"] == "hypr" else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- command line


def add_arguments(p) -> None:
    from .arguments import float_in, positive_float, positive_int, seed32
    from .tasks import TASKS
    p.add_argument("--task", default="resonance", help=f"built-in task: {', '.join(TASKS)}")
    p.add_argument("--data", help="data path, for tasks that read files (shd, fsdd)")
    p.add_argument("--steps", type=positive_int, help="sequence length, for tasks that take one (resonance, cue)")
    p.add_argument("--neuron", default="brf", help=f"neuron model: {', '.join(MODELS)} (default brf)")
    p.add_argument("--method", default="hypr", help="gradient: bptt or hypr")
    p.add_argument("--chunk", type=positive_int, default=32, help="HYPR chunk length lambda (default 32)")
    p.add_argument("--hidden", default="64", help="hidden sizes, comma-separated (default 64)")
    p.add_argument("--no-recurrent", action="store_true", help="switch the recurrent weights off")
    p.add_argument("--alpha-out", type=float_in(0, 1, hi_open=True), default=0.9, help="readout decay in [0, 1) (default 0.9)")
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=1e-2)
    p.add_argument("--seed", type=seed32, default=0)
    p.add_argument("--out", default="runs/model", help="output folder (default runs/model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args) -> TrainConfig:
    from .errors import CommandError
    if args.neuron not in MODELS:
        raise CommandError(f"unknown neuron model {args.neuron!r}; choose one of {', '.join(MODELS)}")
    if args.method not in ("bptt", "hypr"):
        raise CommandError(f"unknown method {args.method!r}; choose bptt or hypr")
    try:
        hidden = [int(h) for h in str(args.hidden).split(",")]
    except ValueError:
        raise CommandError(f"--hidden must be comma-separated integers, got {args.hidden!r}") from None
    checks = [(all(h >= 1 for h in hidden), "--hidden sizes must be >= 1"), (args.chunk >= 1, "--chunk must be >= 1"),
              (args.epochs >= 1, "--epochs must be >= 1"), (args.batch_size >= 1, "--batch-size must be >= 1"),
              (args.lr > 0, "--lr must be > 0"), (0 <= args.alpha_out < 1, "--alpha-out must be in [0, 1)")]
    for ok, message in checks:
        if not ok:
            raise CommandError(message)
    return TrainConfig(neuron=args.neuron, method=args.method, chunk=args.chunk, hidden=hidden,
                       recurrent=not args.no_recurrent, alpha_out=args.alpha_out, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed)


def run(args) -> int:
    from .arguments import check_output_dir
    from .errors import CommandError
    from .onnx_io import export_onnx
    from .tasks import load_task
    from .train_memory import check_training_memory
    cfg = config_from_args(args)
    check_output_dir(args.out)
    try:
        options = {} if args.steps is None else {"steps": args.steps}
        data = load_task(args.task, seed=args.seed, data=args.data, **options)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    check_training_memory(cfg, data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{data.name}: {len(data.x_train)} train / {len(data.x_test)} test sequences of {data.steps} steps, "
          f"{data.n_inputs} inputs, {data.n_classes} classes")
    model = new_model(cfg, data)
    try:
        metrics = train(model, data, cfg, progress=not args.quiet)
    except TrainingDiverged as err:
        raise CommandError(str(err)) from None
    export_onnx(model.to_spec(), out / "model.onnx")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_curves(metrics, out / "curves.png")
    print(f"test accuracy {metrics['test_accuracy']:.1%} after {cfg.epochs} epochs ({metrics['seconds']:.0f} s); "
          f"wrote {out / 'model.onnx'}, {out / 'metrics.json'}, {out / 'curves.png'}")
    return 0
