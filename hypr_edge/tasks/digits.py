"""`digits`: scikit-learn's bundled 8x8 digits read row by row (no download).

Row r of the image (8 pixels scaled to [0, 1]) is the input for `repeat` steps, followed by `gap` blank
steps, so T = 8 * (repeat + gap) with 8 input channels. The class is known only once every row has been
seen; see docs/tasks.md for the loss_steps choice.
"""
from __future__ import annotations

import numpy as np

from ._util import check_positive, resolve_loss_steps
from .base import Dataset


def rows_to_sequence(images: np.ndarray, repeat: int, gap: int) -> np.ndarray:
    """(n, rows, cols) -> (n, rows * (repeat + gap), cols) float32: each row held, then blank steps."""
    n, rows, cols = images.shape
    seq = np.zeros((n, rows, repeat + gap, cols), dtype=np.float32)
    seq[:, :, :repeat, :] = images[:, :, None, :]
    return seq.reshape(n, rows * (repeat + gap), cols)


def load_digits_task(seed: int = 0, *, repeat: int = 5, gap: int = 0, test_fraction: float = 0.2,
                     loss_steps: int | str | None = "auto") -> Dataset:
    """8x8 digits row by row; stratified train/test split by seed; `loss_steps="auto"`: default (see docs)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_positive("digits", repeat=repeat, test_fraction=test_fraction)
    if gap < 0 or test_fraction >= 1:
        raise ValueError(f"task 'digits': need gap >= 0 and 0 < test_fraction < 1, got {gap}, {test_fraction}")
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)  # pixel values are 0..16
    labels = bunch.target.astype(np.int64)
    i_train, i_test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                       stratify=labels, random_state=seed)
    x = rows_to_sequence(images, repeat, gap)
    steps = x.shape[1]
    loss_steps = resolve_loss_steps("digits", loss_steps, steps, steps // 2)
    # The class is in how the input changes from row to row: between one cycle per sequence and one per two rows.
    band = (1.0 / steps, 1.0 / (2 * (repeat + gap)))
    return Dataset(
        name="digits", x_train=x[i_train], y_train=labels[i_train], x_test=x[i_test], y_test=labels[i_test],
        n_classes=10, loss_steps=loss_steps, band=band,
        description=f"sklearn 8x8 digits row by row: {repeat} steps per row + {gap} blank, 8 channels in [0,1]",
    )
