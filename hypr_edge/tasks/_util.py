"""Small helpers shared by the task loaders."""
from __future__ import annotations

import os

import numpy as np


def child_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """Independent generators from one seed, so the test set does not change when n_train does."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def balanced_labels(rng: np.random.Generator, n: int, n_classes: int) -> np.ndarray:
    """Shuffled labels with every class equally often (up to one when n_classes does not divide n)."""
    return rng.permutation(np.arange(n) % n_classes).astype(np.int64)


def require_path(task: str, data: str | os.PathLike | None, what: str) -> str:
    """The data path as a string, or a one-line ValueError saying what the task needs."""
    if data is None:
        raise ValueError(f"task {task!r} needs data=PATH ({what})")
    path = os.fspath(data)
    if not os.path.exists(path):
        raise FileNotFoundError(f"task {task!r}: data path {path!r} does not exist ({what})")
    return path


def check_positive(task: str, **values: float) -> None:
    """One-line errors for sizes that must be >= 1 (or > 0)."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"task {task!r}: {name} must be positive, got {value!r}")


def resolve_loss_steps(task: str, loss_steps: int | str | None, steps: int, default: int | None) -> int | None:
    """"auto" -> the task's default; otherwise None (every step) or a count 1..steps."""
    if loss_steps == "auto":
        return default
    if loss_steps is not None and not (isinstance(loss_steps, int) and 1 <= loss_steps <= steps):
        raise ValueError(f"task {task!r}: loss_steps must be None, 'auto' or 1..{steps}, got {loss_steps!r}")
    return loss_steps
