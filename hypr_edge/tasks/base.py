"""The one shape every built-in task returns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray      # float32 (n, T, n_inputs): input currents per step (spikes are 0/1 floats)
    y_train: np.ndarray      # int64 (n,): one class per sequence
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    loss_steps: int | None   # loss on the last K steps only (None: every step)
    description: str
    band: tuple[float, float] | None = None  # frequency band of the class information, cycles/step, if known
    memory: int | None = None  # steps over which the class must be held without input, if known
    front_end: dict | None = None  # how raw recordings become these inputs (fsdd), recorded in the model's info

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def steps(self) -> int:
        return int(self.x_train.shape[1])
