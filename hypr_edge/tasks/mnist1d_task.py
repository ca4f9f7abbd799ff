"""`mnist1d`: the procedurally generated MNIST-1D (Greydanus 2020), made locally, never downloaded.

Each 40-point signal (standardised by the generator: mean 0, std 1 over the data set) is read one point
per `repeat` steps. With `channels=2` (default) it is split into non-negative currents relu(x), relu(-x),
as for `resonance`; `channels=1` gives the signed signal. The digit template sits at a random shift, so
the class depends on the shape over time.
"""
from __future__ import annotations

import random

import numpy as np

from ._util import check_positive, resolve_loss_steps
from .base import Dataset
from .resonance import encode_signed

CANONICAL_SEED = 42  # the generator seed of the published MNIST-1D; our seed 0 reproduces it


def _make(seed: int, n_samples: int) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = CANONICAL_SEED + seed
    args.num_samples = n_samples
    # make_dataset reseeds the global `random` and `np.random`; put the caller's state back afterwards.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        return make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _present(x: np.ndarray, repeat: int, channels: int) -> np.ndarray:
    x = np.repeat(x, repeat, axis=1)
    return encode_signed(x) if channels == 2 else x[..., None].astype(np.float32)


def load_mnist1d(seed: int = 0, *, n_samples: int = 5000, repeat: int = 1, channels: int = 2,
                 loss_steps: int | str | None = "auto") -> Dataset:
    """MNIST-1D, 80/20 split as made by the generator; `loss_steps="auto"`: default (see docs)."""
    check_positive("mnist1d", n_samples=n_samples, repeat=repeat)
    if channels not in (1, 2):
        raise ValueError(f"task 'mnist1d': channels must be 1 (signed) or 2 (relu split), got {channels!r}")
    if n_samples < 50:
        raise ValueError(f"task 'mnist1d': n_samples must be >= 50 (10 classes, 80/20 split), got {n_samples}")
    d = _make(seed, n_samples)
    x_train, x_test = _present(d["x"], repeat, channels), _present(d["x_test"], repeat, channels)
    steps = x_train.shape[1]
    loss_steps = resolve_loss_steps("mnist1d", loss_steps, steps, steps // 2)
    # The templates are smooth curves whose features span several points: from one cycle per sequence up to one
    # per 8 points.
    band = (1.0 / steps, 1.0 / (8 * repeat))
    return Dataset(
        name="mnist1d", x_train=x_train, y_train=d["y"].astype(np.int64), x_test=x_test,
        y_test=d["y_test"].astype(np.int64), n_classes=10, loss_steps=loss_steps, band=band,
        description=f"MNIST-1D (generator seed {CANONICAL_SEED + seed}), {repeat} step(s) per point, "
                    f"{'relu(x), relu(-x)' if channels == 2 else 'signed x'} channels",
    )
