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

from .distributed import SINGLE, World, average
from .gradient_methods import gradients, predict, sequence_loss
from .model import RSNN, build_model
from .neurons import MODELS, make_neuron
from .tasks.base import Dataset
from .train_checkpoint import FILE_NAME as CHECKPOINT_FILE
from .train_checkpoint import CheckpointError, check_model_state
from .train_checkpoint import save as save_checkpoint


class TrainingDiverged(ArithmeticError):
    pass


@dataclass
class TrainConfig:
    neuron: str = "brf"
    method: str = "hypr"
    chunk: int = 32
    hidden: list[int] = field(default_factory=lambda: [64])
    recurrent: bool = True
    alpha_out: float = 0.8  # a faster readout than 0.9 scored 2-4 pp higher on digits (docs/training.md)
    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-2        # per weight matrix scaled by its size (param_groups), cosine-decayed (schedule)
    theta_lr: float | None = None  # learning rate of the neuron parameters (omega, b', time constants); None: derived
    clip: float = 1.0
    scale_lr: bool = True     # each hidden weight matrix learns at lr times its size over Xavier's (param_groups)
    schedule: str = "cosine"  # learning rate over the run: "cosine" (decays to 0 at the last step) or "constant"
    seed: int = 0


def resonant_init(neuron: str, band: tuple[float, float] | None) -> dict:
    """Initialisation ranges that suit the task's frequency band (cycles per step), if the task knows it and the
    neuron model has such ranges (BRF: omega resonating in the band)."""
    return make_neuron(neuron).band_init(band)


def memory_init(neuron: str, memory: int | None) -> dict:
    """Initialisation ranges that hold a state for `memory` steps, if the task says how long (BRF: small b')."""
    return make_neuron(neuron).memory_init(memory)


def every_step_lr(cfg: TrainConfig, data: Dataset) -> float:
    """The learning rate of the parameters that act at every step, the neuron parameters and the bias: cfg.lr, but
    at most 10 / memory on a task that holds a state for `memory` steps without input. An Adam step moves omega by
    about the learning rate, which turns a BRF neuron's phase after M steps by delta * lr * M radians (b' changes
    its amplitude as much): at lr 0.05 and M = 10,000 that is 5 rad, every step, and what the readout has learnt
    about the phase is lost; 10 / M keeps it at 0.1 rad. The bias is the one input of every silent step, so it
    gets the same cap. Without the caps BRF stays at chance on cue at T = 10,000 (docs/training.md)."""
    return cfg.lr if data.memory is None else min(cfg.lr, 10.0 / data.memory)


def theta_lr(cfg: TrainConfig, data: Dataset) -> float:
    """The neuron parameters' learning rate: cfg.theta_lr if given, else every_step_lr."""
    return every_step_lr(cfg, data) if cfg.theta_lr is None else cfg.theta_lr


SCHEDULES = ("cosine", "constant")


def lr_factor(schedule: str, total_steps: int):
    """The learning rate's factor at optimizer step k of total_steps."""
    if schedule == "constant":
        return lambda k: 1.0
    if schedule == "cosine":
        return lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total_steps) / total_steps))
    raise ValueError(f"unknown learning rate schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def weight_scale(w: torch.Tensor) -> float:
    """How much larger a weight matrix is than the Xavier initialisation of its shape (RMS over RMS), at least 1."""
    n_out, n_in = w.shape
    return max(1.0, float(w.detach().pow(2).mean().sqrt()) / math.sqrt(2.0 / (n_in + n_out)))


def param_groups(model: RSNN, cfg: TrainConfig, data: Dataset) -> list[dict]:
    """Adam's groups. Adam moves every weight by about the learning rate whatever its size, and a BRF network's
    input weights start ~50x larger than Xavier's (BRF integrates its current with delta = 0.01): at one learning
    rate for all they would barely move, relative to their size, while the readout's change fast. So with
    cfg.scale_lr each hidden layer's weights learn at lr times their weight_scale, its bias at every_step_lr times
    its input weights' scale; the neuron parameters at theta_lr; the readout at lr."""
    groups = [{"params": [getattr(layer, n) for layer in model.layers for n in model.neuron.param_names],
               "lr": theta_lr(cfg, data)}]
    for layer in model.layers:
        def scale(w):
            return weight_scale(w) if cfg.scale_lr else 1.0
        groups += [{"params": [w], "lr": cfg.lr * scale(w)} for w in (layer.w_in, layer.w_rec) if w is not None]
        groups.append({"params": [layer.bias], "lr": every_step_lr(cfg, data) * scale(layer.w_in)})
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
def evaluate(model: RSNN, x: np.ndarray, y: np.ndarray, loss_steps: int | None, batch: int = 256,
             world: World = SINGLE) -> dict:
    """Accuracy, loss and spike rate on (x, y); with several processes each takes its share and the sums are
    all-reduced, so every process returns the same figures."""
    param = model.readout.w_out
    batch = max(1, min(batch, EVAL_STEPS // x.shape[1]))  # the forward pass keeps every step's spikes
    part = world.share(len(x))
    xs, ys = x[part], y[part]
    sums = torch.zeros(3, dtype=torch.float64, device=param.device)  # correct, loss, spike rate (summed)
    for i in range(0, len(xs), batch):
        xb = torch.as_tensor(xs[i:i + batch], device=param.device).to(param.dtype)
        yb = torch.as_tensor(ys[i:i + batch], device=param.device)
        o, spikes = model(xb, return_spikes=True)
        sums[0] += (predict(o, loss_steps) == yb).sum()
        sums[1] += sequence_loss(o, yb, loss_steps) * len(xb)
        sums[2] += torch.stack([z.mean() for z in spikes]).mean() * len(xb)
    correct, loss, rate = (float(v) / len(x) for v in world.sum_(sums))
    return {"accuracy": correct, "loss": loss, "spike_rate": rate}


# ---------------------------------------------------------------- guards

EXPLODED = 100.0  # a loss this many times its start (or chance level's, if larger) has diverged


def check_loss(loss: float, start: float, n_classes: int, where: str, cfg: TrainConfig) -> None:
    """Stop a run whose loss is not finite or has exploded, before it writes a model."""
    if not math.isfinite(loss):
        why = f"the loss is {loss}"
    elif loss > EXPLODED * max(start, math.log(max(n_classes, 2))):
        why = f"the loss {loss:.3g} is over {EXPLODED:g}x its start ({start:.3g})"
    else:
        return
    raise TrainingDiverged(f"training diverged in {where}: {why}; try a smaller --lr (now {cfg.lr:g})")


def check_parameters(model: RSNN, where: str, cfg: TrainConfig) -> None:
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise TrainingDiverged(f"training diverged in {where}: {name} is no longer finite; try a smaller --lr "
                                   f"(now {cfg.lr:g})")


def project_parameters(model: RSNN) -> None:
    """Neuron parameters back into their model's domain after an optimizer step (BRF: delta*|omega| <= 0.99)."""
    for layer in model.layers:
        model.neuron.project_(layer.theta)


# ---------------------------------------------------------------- the loop


@dataclass
class Position:
    """Where a run stands between two optimizer steps: what a checkpoint holds besides weights and optimizer."""
    epoch: int = 1
    batch: int = 0                    # the next batch of this epoch
    order: np.ndarray | None = None   # this epoch's sample order (None: not drawn yet)
    losses: list = field(default_factory=list)   # this epoch's batch losses so far
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY})
    seconds: float = 0.0
    start_loss: float | None = None   # the run's first batch loss: the explosion guard's reference


HISTORY = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "spike_rate", "seconds",
           "samples_per_second")


@dataclass
class Saving:
    """What a run writes while it trains, from rank 0 only: a checkpoint every `every` optimizer steps (0: none)
    and metrics.json after every epoch. `run`: the options that define the run, kept in each checkpoint and
    checked when it is resumed."""
    out: Path
    run: dict
    every: int = 0

    def checkpoint(self, state: dict, world: World) -> None:
        if world.is_main:
            save_checkpoint(self.out / CHECKPOINT_FILE, {"run": self.run, **state})

    def epoch_done(self, metrics: dict, world: World) -> None:
        if world.is_main:
            write_metrics(self.out / "metrics.json", metrics)


def write_metrics(path: Path, metrics: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=2))
    tmp.replace(path)


def batch_gradients(model: RSNN, data: Dataset, cfg: TrainConfig, idx: np.ndarray, world: World):
    """The batch idx's loss (a float) and gradient, this process computing its share and the shares all-reduced
    (hypr_edge/distributed.py): every process gets the whole batch's."""
    param = model.readout.w_out
    mine = idx[world.share(len(idx))]
    if len(mine):
        xb = torch.as_tensor(data.x_train[mine], device=param.device)
        yb = torch.as_tensor(data.y_train[mine], device=param.device)
        loss, grads = gradients(model, xb, yb, method=cfg.method, chunk=cfg.chunk, loss_steps=data.loss_steps,
                                return_loss=True)
    else:  # more processes than sequences in a short last batch: this one adds nothing
        loss = torch.zeros((), dtype=param.dtype, device=param.device)
        grads = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    loss, grads = average(loss, grads, len(mine) / len(idx), world)
    return float(loss), grads


def train(model: RSNN, data: Dataset, cfg: TrainConfig, progress: bool = True, *, world: World = SINGLE,
          saving: Saving | None = None, resume: dict | None = None) -> dict:
    """Train in place; returns metrics with per-epoch curves. world: the processes that share each batch (every
    one calls train with the same arguments); saving: checkpoints and per-epoch metrics (rank 0 writes them);
    resume: a checkpoint (train_checkpoint.load) to continue from. The data and every tensor go to the model's
    device."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(param_groups(model, cfg, data), lr=cfg.lr)
    n_train = len(data.x_train)
    n_batches = int(np.ceil(n_train / cfg.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg.schedule, cfg.epochs * n_batches))
    params = dict(model.named_parameters())
    pos = Position() if resume is None else restore(resume, model, opt, sched, rng, n_train, n_batches)
    show = progress and world.is_main
    clock = time.perf_counter() - pos.seconds
    for epoch in range(pos.epoch, cfg.epochs + 1):
        if pos.order is None:
            pos.order, pos.batch, pos.losses = rng.permutation(n_train), 0, []
        bar = tqdm(total=n_train, initial=min(pos.batch * cfg.batch_size, n_train), disable=not show, unit="seq",
                   desc=f"{cfg.neuron}/{cfg.method} epoch {epoch}/{cfg.epochs}")
        epoch_clock, seen = time.perf_counter(), 0
        for b in range(pos.batch, n_batches):
            where = f"epoch {epoch}, batch {b}"
            idx = pos.order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            loss, grads = batch_gradients(model, data, cfg, idx, world)
            if pos.start_loss is None:
                pos.start_loss = loss
            check_loss(loss, pos.start_loss, data.n_classes, where, cfg)
            for name, g in grads.items():
                params[name].grad = g
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            project_parameters(model)
            check_parameters(model, where, cfg)
            sched.step()
            pos.losses.append(loss)
            pos.batch, seen = b + 1, seen + len(idx)
            bar.update(len(idx))
            bar.set_postfix(loss=f"{np.mean(pos.losses[-20:]):.3f}", refresh=False)
            if saving is not None and saving.every and ((epoch - 1) * n_batches + b + 1) % saving.every == 0:
                pos.seconds = time.perf_counter() - clock
                saving.checkpoint(checkpoint_state(model, opt, sched, rng, pos), world)
        rate = seen / max(time.perf_counter() - epoch_clock, 1e-9)
        train_eval = evaluate(model, data.x_train[:1000], data.y_train[:1000], data.loss_steps, world=world)
        test_eval = evaluate(model, data.x_test, data.y_test, data.loss_steps, world=world)
        for name, value in (("train", train_eval["loss"]), ("test", test_eval["loss"])):
            check_loss(value, pos.start_loss, data.n_classes, f"epoch {epoch} ({name} loss)", cfg)
        h = pos.history
        h["epoch"].append(epoch)
        h["train_loss"].append(float(np.mean(pos.losses)) if pos.losses else float("nan"))
        h["train_accuracy"].append(train_eval["accuracy"])
        h["test_loss"].append(test_eval["loss"])
        h["test_accuracy"].append(test_eval["accuracy"])
        h["spike_rate"].append(test_eval["spike_rate"])
        h["seconds"].append(time.perf_counter() - clock)
        h["samples_per_second"].append(rate)
        bar.set_postfix(loss=f"{h['train_loss'][-1]:.3f}", test=f"{test_eval['accuracy']:.1%}", refresh=False)
        bar.close()
        pos.epoch, pos.order = epoch + 1, None
        metrics = {"config": asdict(cfg), "task": data.name, "history": h, "test_accuracy": h["test_accuracy"][-1],
                   "seconds": h["seconds"][-1], "processes": world.size,
                   "device": str(model.readout.w_out.device)}
        if saving is not None:
            saving.epoch_done(metrics, world)
    return metrics


def checkpoint_state(model, opt, sched, rng: np.random.Generator, pos: Position) -> dict:
    """What a checkpoint holds (train_checkpoint.py): tensors and plain values only."""
    rng_state = {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}
    if model.readout.w_out.device.type == "cuda":
        rng_state["cuda"] = torch.cuda.get_rng_state_all()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "rng": rng_state,
            "position": {"epoch": pos.epoch, "batch": pos.batch, "order": torch.as_tensor(pos.order),
                         "losses": list(pos.losses), "history": pos.history, "seconds": pos.seconds,
                         "start_loss": pos.start_loss}}


def restore(state: dict, model, opt, sched, rng: np.random.Generator, n_train: int, n_batches: int) -> Position:
    """Put a checkpoint's state back; returns the position to continue from."""
    path = state.get("path", "checkpoint")
    check_model_state(path, state["model"], model)
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and model.readout.w_out.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        p = state["position"]
        order = p["order"].numpy()
        if order.shape != (n_train,) or not 0 <= p["batch"] <= n_batches:
            raise ValueError("the sample order does not fit the data")
        return Position(epoch=int(p["epoch"]), batch=int(p["batch"]), order=order, losses=list(p["losses"]),
                        history={k: list(p["history"][k]) for k in HISTORY}, seconds=float(p["seconds"]),
                        start_loss=p["start_loss"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"{path}: damaged checkpoint ({err})") from None


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
    from .outputs import atomic_path
    with atomic_path(path) as tmp:   # a failed run leaves no half-written PNG
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- command line


def add_arguments(p) -> None:
    from .arguments import float_in, non_negative_int, positive_float, positive_int, seed32
    from .train_config import defer_defaults
    from .tasks import TASKS
    p.add_argument("--task", default="resonance", help=f"built-in task: {', '.join(TASKS)}")
    p.add_argument("--data", help="data path, for tasks that read files (shd, fsdd)")
    p.add_argument("--steps", type=positive_int, help="sequence length, for tasks that take one (resonance, cue)")
    p.add_argument("--neuron", default="brf", help=f"neuron model: {', '.join(MODELS)} (default brf)")
    p.add_argument("--method", default="hypr", help="gradient: bptt or hypr")
    p.add_argument("--chunk", type=positive_int, default=32, help="HYPR chunk length lambda (default 32)")
    p.add_argument("--hidden", default="64", help="hidden sizes, comma-separated (default 64)")
    p.add_argument("--no-recurrent", action="store_true", help="switch the recurrent weights off")
    d = TrainConfig()
    p.add_argument("--alpha-out", type=float_in(0, 1, hi_open=True), default=d.alpha_out,
                   help=f"readout decay in [0, 1) (default {d.alpha_out:g})")
    p.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"(default {d.epochs})")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help=f"(default {d.batch_size})")
    p.add_argument("--lr", type=positive_float, default=d.lr,
                   help=f"Adam learning rate, cosine-decayed over the run (default {d.lr:g})")
    p.add_argument("--seed", type=seed32, default=0)
    p.add_argument("--out", default="runs/model", help="output folder (default runs/model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N or mps (default cpu); under "
                                                   "torchrun, cuda is each process's own GPU")
    p.add_argument("--config", help="TOML file of options (keys: the options without their dashes); flags override "
                                    "it. Each run writes its resolved options to OUT/config.toml")
    p.add_argument("--checkpoint-every", type=non_negative_int, default=0,
                   help="save OUT/checkpoint.pt every N optimizer steps (default 0: never)")
    p.add_argument("--resume", metavar="OUT", help="continue the run in folder OUT from its checkpoint.pt")
    # Last: argparse's defaults become None, so a flag given on the command line can be told from a default and
    # override a --config file (hypr_edge/train_config.py). Add new options above this line.
    defer_defaults(p)


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


def pick_device(text: str):
    """--device as a torch.device that exists here (under torchrun a bare `cuda` is the process's own GPU)."""
    from .distributed import local_device
    from .errors import CommandError
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise CommandError(f"--device must be cpu, cuda, cuda:N or mps, got {text!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = " (this torch is built without CUDA)" if torch.version.cuda is None else ""
            raise CommandError(f"--device {text}: no CUDA device here{build}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise CommandError(f"--device {text}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CommandError(f"--device {text}: no Apple MPS device here")
    return local_device(device)


# Options that may come with --resume: they change how a run is carried out, not what it computes.
RESUME_FLAGS = ("--resume", "--quiet", "--device", "--checkpoint-every")
RUN_ONLY = ("device", "quiet", "checkpoint-every")   # recorded in config.toml, but not what defines the run


def resolve_options(args):
    """The command's options from the flags, --config FILE or --resume DIR's config.toml, and the defaults."""
    from .errors import CommandError
    from .train_config import OPTIONS, given_flags, read_file, resolve
    options = getattr(args, OPTIONS)
    if args.resume is not None:
        stray = [flag for flag in given_flags(args) if flag not in RESUME_FLAGS]
        if stray:
            raise CommandError(f"--resume continues a run as its config.toml says; {stray[0]} cannot change it "
                               f"(only {', '.join(RESUME_FLAGS[1:])} may be given)")
        folder = Path(args.resume)
        if not (folder / "config.toml").is_file():
            raise CommandError(f"{folder}: no config.toml here: not the output folder of a `hypr-edge train` run")
        resolved = resolve(args, read_file(folder / "config.toml", options))
        resolved.out = str(folder)
        return resolved
    return resolve(args, read_file(args.config, options) if args.config is not None else None)


def run(args) -> int:
    from .arguments import check_output_dir
    from .errors import CommandError
    from .tasks import load_task
    from .train_memory import check_training_memory
    from . import distributed
    args = resolve_options(args)
    cfg = config_from_args(args)
    device = pick_device(args.device)
    check_output_dir(args.out)
    try:
        options = {} if args.steps is None else {"steps": args.steps}
        data = load_task(args.task, seed=args.seed, data=args.data, **options)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    check_training_memory(cfg, data)
    world = distributed.start(device)   # after the checks: every process refuses a bad run alike, before joining
    try:
        return _train_and_save(args, cfg, data, device, world)
    finally:
        distributed.stop(world)


def _train_and_save(args, cfg: TrainConfig, data: Dataset, device, world: World) -> int:
    from .errors import CommandError
    from .gradient_methods import GradientInputError
    from .onnx_io import export_onnx
    from .train_checkpoint import load as load_checkpoint
    from .train_config import recorded, write_file
    out = Path(args.out)
    say = print if world.is_main else (lambda *a, **k: None)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if args.resume is None:
            write_file(out / "config.toml", args)
    spread = f", {world.size} processes" if world.size > 1 else ""
    say(f"{data.name}: {len(data.x_train)} train / {len(data.x_test)} test sequences of {data.steps} steps, "
        f"{data.n_inputs} inputs, {data.n_classes} classes; training on {device}{spread}", flush=True)
    identity = {k: v for k, v in recorded(args).items() if k not in RUN_ONLY}
    saving = Saving(out, run=identity, every=args.checkpoint_every or 0)
    model = new_model(cfg, data).to(device)
    try:
        resume = None if args.resume is None else load_checkpoint(out / CHECKPOINT_FILE, identity)
        if resume is not None:
            p = resume["position"]
            say(f"resuming {out / CHECKPOINT_FILE}: epoch {p.get('epoch')}, batch {p.get('batch')}")
        metrics = train(model, data, cfg, progress=not args.quiet, world=world, saving=saving, resume=resume)
    except (TrainingDiverged, GradientInputError, CheckpointError) as err:
        raise CommandError(str(err)) from None
    if world.is_main:
        export_onnx(model.to_spec(), out / "model.onnx")
        write_metrics(out / "metrics.json", metrics)
        plot_curves(metrics, out / "curves.png")
    say(f"test accuracy {metrics['test_accuracy']:.1%} after {cfg.epochs} epochs ({metrics['seconds']:.0f} s); "
        f"wrote {out / 'model.onnx'}, {out / 'metrics.json'}, {out / 'curves.png'}, {out / 'config.toml'}")
    return 0
