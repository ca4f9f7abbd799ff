"""What `hypr-edge stream` leaves behind: the recorded outputs (--record .npz or .csv), the confusion matrix,
and the PNG of accuracy over time (how fast the device adapts when it learns)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .stream_runner import StreamLog

RECORD_SUFFIXES = (".npz", ".csv")


def record_arrays(log: StreamLog, model_hash: int) -> dict[str, np.ndarray]:
    """Per step (sequence-major): sequence, step, label, prediction, ticks, outputs (and spikes); per RUN:
    run_start, run_steps, run_ticks, run_spikes; per sequence with sequence labels: their labels and
    predictions. Only the steps played."""
    data, done = log.data, log.done
    t = data.steps
    g = np.arange(done)
    out = {"sequence": g // t, "step": g % t, "label": data.step_labels.reshape(-1)[:done],
           "prediction": log.step_predictions(), "ticks": log.ticks[:done], "outputs": log.outputs[:done]}
    if log.spikes is not None:
        out["spikes"] = log.spikes[:done]
    runs = np.array([(r.start, r.steps, r.ticks, r.spikes) for r in log.runs], dtype=np.int64).reshape(-1, 4)
    out.update(run_start=runs[:, 0], run_steps=runs[:, 1], run_ticks=runs[:, 2], run_spikes=runs[:, 3])
    if log.by_sequence:
        n = done // t
        out["sequence_label"] = data.sequence_labels[:n]
        out["sequence_prediction"] = np.array([log.sequence_prediction(i) for i in range(n)], dtype=np.int64)
    out.update(tick_hz=np.int64(log.tick_hz), model_hash=np.uint32(model_hash), learn=np.bool_(log.learn),
               continuous=np.bool_(data.continuous))
    return out


def write_record(path: Path, log: StreamLog, model_hash: int) -> None:
    """.npz: the arrays of `record_arrays`. .csv: one row per step (sequence, step, label, prediction, ticks,
    out_0.., spike_0..); the per-run table is in the .npz only."""
    arrays = record_arrays(log, model_hash)
    if path.suffix.lower() == ".npz":
        np.savez_compressed(path, **arrays)
        return
    cols = [arrays[k][:, None] for k in ("sequence", "step", "label", "prediction", "ticks")]
    head = ["sequence", "step", "label", "prediction", "ticks"]
    head += [f"out_{c}" for c in range(arrays["outputs"].shape[1])]
    cols.append(arrays["outputs"])
    if "spikes" in arrays:
        head += [f"spike_{j}" for j in range(arrays["spikes"].shape[1])]
        cols.append(arrays["spikes"])
    np.savetxt(path, np.concatenate([c.astype(np.int64) for c in cols], axis=1), fmt="%d", delimiter=",",
               header=",".join(head), comments="")


def confusion(log: StreamLog, n_classes: int) -> np.ndarray:
    """(true, predicted) counts over the scored items."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(log.truth, np.int64), np.asarray(log.predictions, np.int64)), 1)
    return m


def confusion_text(m: np.ndarray) -> list[str]:
    """The matrix as lines: a row per true class, a column per predicted class."""
    w = max(3, len(str(int(m.max(initial=0)))) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted)",
             "true\\pred" + "".join(f"{c:>{w}}" for c in range(m.shape[1]))]
    lines += [f"{r:>9}" + "".join(f"{v:>{w}}" for v in row) for r, row in enumerate(m)]
    return lines


def accuracy_curve(log: StreamLog) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(positions, running accuracy over all so far, accuracy over a moving window, window) of the scored items;
    the window is about 1/20 of the items, 10 to 500."""
    ok = (np.asarray(log.truth) == np.asarray(log.predictions)).astype(np.float64)
    pos = np.asarray(log.positions, np.int64)
    cum = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    w = int(np.clip(len(ok) // 20, 10, 500))
    c = np.concatenate([[0.0], np.cumsum(ok)])
    idx = np.arange(1, len(ok) + 1)
    moving = (c[idx] - c[np.maximum(0, idx - w)]) / np.minimum(idx, w)
    return pos, cum, moving, w


def plot_accuracy(path: Path, log: StreamLog, n_classes: int, title: str) -> None:
    """Accuracy over time (running and moving window) beside the confusion matrix, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, cm) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.7, 1]})
    unit, items = ("sequence", "sequences") if log.by_sequence else ("step", "labelled steps")
    if log.scored:
        pos, cum, moving, w = accuracy_curve(log)
        # steps-post: flat across unlabelled stretches, where nothing is scored and the accuracy stands still
        ax.plot(pos, 100 * moving, color="tab:blue", alpha=0.6, drawstyle="steps-post", label=f"last {w} {items}")
        ax.plot(pos, 100 * cum, color="tab:red", lw=2, drawstyle="steps-post", label="all so far")
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no labels: nothing scored yet", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel=unit, ylabel="accuracy (%)", ylim=(0, 101), title=f"accuracy over time ({log.scored} scored)")
    ax.grid(alpha=0.3)
    m = confusion(log, n_classes)
    cm.imshow(m, cmap="Blues")
    cm.set(xlabel="predicted class", ylabel="true class", title="confusion matrix")
    if n_classes <= 12:
        cm.set_xticks(range(n_classes))
        cm.set_yticks(range(n_classes))
        for (r, c), v in np.ndenumerate(m):
            if v:
                cm.text(c, r, str(v), ha="center", va="center", fontsize=8,
                        color="white" if v > m.max() / 2 else "black")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)   # a viewer that reloads the file never sees half a PNG
