"""`cue`: remember which of two input groups fired, across a long silent delay (the HYPR paper's cue task).

15 spike channels. Steps 0..19: the class is shown as Bernoulli spikes (probability `rate`) on channels 0-4
(class 0, "A") or 5-9 (class 1, "B"). Then nothing, until the last 20 steps, where channels 10-14 fire with
probability `cue_rate`: the cue that asks for the answer. The loss (and the decision) is on those last 20 steps,
so the class must be held for T - 40 steps of silence. T = `steps` from 60 up (the paper: 1k to 16k).
"""
from __future__ import annotations

import numpy as np

from ._util import balanced_labels, check_positive, child_rngs, resolve_loss_steps
from .base import Dataset

WINDOW = 20          # steps of the class window and of the cue window
GROUP = 5            # channels per group: class A 0-4, class B 5-9, cue 10-14
N_INPUTS = 3 * GROUP
MIN_STEPS = 3 * WINDOW  # class window, a delay at least as long, cue window


def _sequences(rng: np.random.Generator, n: int, steps: int, rate: float, cue_rate: float):
    y = balanced_labels(rng, n, 2)
    x = np.zeros((n, steps, N_INPUTS), dtype=np.float32)
    class_spikes = rng.random((n, WINDOW, GROUP)) < rate
    for label in (0, 1):  # each sequence's class group fires, the other group stays silent
        rows = y == label
        x[rows, :WINDOW, label * GROUP:(label + 1) * GROUP] = class_spikes[rows]
    x[:, steps - WINDOW:, 2 * GROUP:] = rng.random((n, WINDOW, GROUP)) < cue_rate
    return x, y


def load_cue(seed: int = 0, *, steps: int = 1000, n_train: int = 256, n_test: int = 256, rate: float = 0.5,
             cue_rate: float = 0.5, loss_steps: int | str | None = "auto") -> Dataset:
    """Delayed-cue task of total length `steps`; `loss_steps="auto"`: the 20 cue steps."""
    check_positive("cue", steps=steps, n_train=n_train, n_test=n_test, rate=rate, cue_rate=cue_rate)
    if steps < MIN_STEPS:
        raise ValueError(f"task 'cue': steps must be >= {MIN_STEPS} (class window, delay, cue window), got {steps}")
    if rate > 1 or cue_rate > 1:
        raise ValueError(f"task 'cue': rate and cue_rate are probabilities, got {rate}, {cue_rate}")
    rng_train, rng_test = child_rngs(seed, 2)
    x_train, y_train = _sequences(rng_train, n_train, steps, rate, cue_rate)
    x_test, y_test = _sequences(rng_test, n_test, steps, rate, cue_rate)
    return Dataset(
        name="cue", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, n_classes=2,
        loss_steps=resolve_loss_steps("cue", loss_steps, steps, WINDOW), memory=steps - WINDOW,
        description=(f"delayed cue: class spikes on channels 0-4 or 5-9 for {WINDOW} steps (p={rate}), "
                     f"{steps - 2 * WINDOW} silent steps, cue on 10-14 for {WINDOW} steps (p={cue_rate})"),
    )
