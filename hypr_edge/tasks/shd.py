"""`shd`: the Spiking Heidelberg Digits from local HDF5 files (Cramer et al. 2020), binned into steps.

File layout (as published, after gunzip): `spikes/times` (one variable-length array of spike times in
seconds per sample), `spikes/units` (the matching unit indices 0..699) and `labels` (20 classes).
`data` is a folder holding `shd_train.h5` and `shd_test.h5`, or the path of the train file, the test
file then being the file beside it with "train" replaced by "test" in its name.
"""
from __future__ import annotations

import os

import numpy as np

from ._util import check_positive, require_path, resolve_loss_steps
from .base import Dataset

N_UNITS = 700  # cochlea model channels in SHD
N_CLASSES = 20  # digits 0-9 in English and German
WHAT = "a folder with shd_train.h5 and shd_test.h5, or the shd_train.h5 path"


def shd_files(data: str | os.PathLike | None) -> tuple[str, str]:
    """(train, test) file paths from `data`; one-line errors when either is missing."""
    path = require_path("shd", data, WHAT)
    if os.path.isdir(path):
        train, test = os.path.join(path, "shd_train.h5"), os.path.join(path, "shd_test.h5")
    else:
        folder, base = os.path.split(path)
        if "train" not in base:
            raise ValueError(f"task 'shd': {path!r} is not a train file (its name must contain 'train')")
        train, test = path, os.path.join(folder, base.replace("train", "test"))
    for f in (train, test):
        if not os.path.isfile(f):
            raise FileNotFoundError(f"task 'shd': {f!r} not found ({WHAT}; gunzip the downloaded .h5.gz)")
    return train, test


def bin_spikes(times: list[np.ndarray], units: list[np.ndarray], steps: int, max_time: float,
               channels: int) -> np.ndarray:
    """Spike counts (n, steps, channels) float32. Bin b holds times in [b, b+1) * max_time / steps;
    spikes at or after max_time are dropped; unit u goes to channel u * channels // 700, which sums
    groups of adjacent units (equal groups when channels divides 700)."""
    x = np.zeros((len(times), steps, channels), dtype=np.float32)
    for i, (t, u) in enumerate(zip(times, units)):
        b = np.floor(np.asarray(t, dtype=np.float64) * (steps / max_time)).astype(np.int64)
        c = np.asarray(u, dtype=np.int64) * channels // N_UNITS
        keep = (b >= 0) & (b < steps)
        np.add.at(x[i], (b[keep], c[keep]), 1.0)
    return x


def _dataset(f, name: str, path: str):
    import h5py
    try:
        ds = f[name]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"task 'shd': {path!r} lacks spikes/times, spikes/units or labels (no {name})") from None
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"task 'shd': {path!r}: {name} is not a data set")
    return ds


def _samples(ds, path: str, n: int) -> list[np.ndarray]:
    """The per-sample arrays of a (variable-length) data set of n samples, each 1-D and numeric."""
    if ds.ndim < 1 or ds.shape[0] != n:
        raise ValueError(f"task 'shd': {path!r}: {ds.name} holds {ds.shape[0] if ds.ndim else 0} samples, "
                         f"labels {n}")
    out = []
    for i, v in enumerate(ds[:]):
        a = np.asarray(v)
        if a.ndim != 1 or a.dtype.kind not in "iuf":
            raise ValueError(f"task 'shd': {path!r}: {ds.name} of sample {i} is not a list of numbers")
        out.append(a)
    return out


def _read(path: str, steps: int, max_time: float, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """A checked SHD file: labels 0..19, unit indices 0..699, spike times finite and >= 0, the same number of
    samples everywhere and at least one; anything else is one ValueError naming the file (docs/reliability.md)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"task 'shd': {path!r} is not a readable HDF5 file ({str(err).splitlines()[0][:120]})") \
            from None
    try:
        with f:
            labels_ds = _dataset(f, "labels", path)
            times_ds, units_ds = _dataset(f, "spikes/times", path), _dataset(f, "spikes/units", path)
            labels = np.asarray(labels_ds[:])
            if labels.ndim != 1 or labels.dtype.kind not in "iu":
                raise ValueError(f"task 'shd': {path!r}: labels must be a list of integers, got {labels.dtype} "
                                 f"of shape {labels.shape}")
            n = len(labels)
            if n == 0:
                raise ValueError(f"task 'shd': {path!r} holds no samples")
            times, units = _samples(times_ds, path, n), _samples(units_ds, path, n)
    except OSError as err:   # a damaged data set inside a readable file
        raise ValueError(f"task 'shd': {path!r} is damaged ({str(err).splitlines()[0][:120]})") from None
    bad = np.flatnonzero((labels < 0) | (labels >= N_CLASSES))
    if bad.size:
        raise ValueError(f"task 'shd': {path!r}: sample {bad[0]} has label {labels[bad[0]]}, outside "
                         f"0..{N_CLASSES - 1}")
    for i, (t, u) in enumerate(zip(times, units)):
        if len(t) != len(u):
            raise ValueError(f"task 'shd': {path!r}: sample {i} has {len(t)} spike times and {len(u)} units")
        if u.dtype.kind not in "iu" or (len(u) and (u.min() < 0 or u.max() >= N_UNITS)):
            raise ValueError(f"task 'shd': {path!r} has unit indices outside 0..{N_UNITS - 1} (sample {i})")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"task 'shd': {path!r}: sample {i} has spike times that are NaN or infinite")
        if len(t) and t.min() < 0:
            raise ValueError(f"task 'shd': {path!r}: sample {i} has a negative spike time")
    return bin_spikes(times, units, steps, max_time, channels), labels.astype(np.int64)


def load_shd(data: str | os.PathLike | None = None, seed: int = 0, *, steps: int = 100,
             max_time: float = 1.0, channels: int = N_UNITS, loss_steps: int | str | None = "auto") -> Dataset:
    """SHD spike counts per bin; the train/test split is the published one, so `seed` changes nothing."""
    check_positive("shd", steps=steps, max_time=max_time, channels=channels)
    if channels > N_UNITS:
        raise ValueError(f"task 'shd': channels must be <= {N_UNITS}, got {channels}")
    loss_steps = resolve_loss_steps("shd", loss_steps, steps, None)  # the class is spread over the utterance
    train, test = shd_files(data)
    x_train, y_train = _read(train, steps, max_time, channels)
    x_test, y_test = _read(test, steps, max_time, channels)
    return Dataset(
        name="shd", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        n_classes=N_CLASSES, loss_steps=loss_steps,
        description=f"Spiking Heidelberg Digits: spike counts in {steps} bins over {max_time} s, "
                    f"{N_UNITS} units summed into {channels} channels",
    )
