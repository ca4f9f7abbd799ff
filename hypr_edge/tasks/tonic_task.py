"""`tonic:SHD` and `tonic:SSC`: the Heidelberg spike data sets read through tonic's datasets and `ToFrame`.

tonic (GPL-3.0-only) is an optional extra, never a dependency: `pip install 'hypr-edge[tonic]'`. `root` is tonic's
`save_to` folder; tonic keeps each set in `root/SHD/` (`shd_train.h5`, `shd_test.h5`, each beside the `.zip`
it came in) and downloads it there when missing (which needs the network). The arrays equal the built-in `shd`
loader's for the same options (steps, max_time, channels): bin b holds times in [b, b+1) * max_time / steps,
later spikes are dropped, unit u goes to channel u * channels // 700. tonic hands times over in whole
microseconds, so the bin width must be a whole number of microseconds for that equality to hold; other widths are
refused.
"""
from __future__ import annotations

import os

import numpy as np

from ._util import check_positive, resolve_loss_steps
from .base import Dataset
from .shd import N_UNITS

INSTALL_HINT = "needs tonic, an optional extra (GPL-3.0): pip install 'hypr-edge[tonic]'"
#: tonic data set name -> (number of classes, the keyword and values tonic takes for the train and test split)
SETS: dict[str, tuple[int, str, object, object]] = {
    "SHD": (20, "train", True, False),
    "SSC": (35, "split", "train", "test"),
}


def _frames(dataset, steps: int, width_us: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    from tonic.transforms import ToFrame

    to_frame = ToFrame(sensor_size=(N_UNITS, 1, 1), time_window=width_us, start_time=0, end_time=steps * width_us)
    group = np.zeros((N_UNITS, channels), np.float32)  # unit u -> channel u * channels // 700, exact in integers
    group[np.arange(N_UNITS), np.arange(N_UNITS) * channels // N_UNITS] = 1.0
    x = np.zeros((len(dataset), steps, channels), np.float32)
    y = np.zeros(len(dataset), np.int64)
    for i in range(len(dataset)):
        events, y[i] = dataset[i]
        if len(events):  # ToFrame returns one empty frame for a sample without spikes
            events = events[np.argsort(events["t"], kind="stable")]  # ToFrame slices by binary search in time
            x[i] = to_frame(events).reshape(steps, N_UNITS).astype(np.float32) @ group
    return x, y


def load_tonic(name: str, *, root: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
               seed: int = 0, steps: int = 100, max_time: float = 1.0, channels: int = N_UNITS,
               loss_steps: int | str | None = "auto") -> Dataset:
    """`name` is "tonic:SHD" or "tonic:SSC"; `root` (or `data`) is tonic's save_to folder. The published split is
    used, so `seed` changes nothing."""
    key = name.split(":", 1)[1] if ":" in name else name
    if key not in SETS:
        raise ValueError(f"unknown task {name!r}; tonic tasks: {', '.join('tonic:' + k for k in SETS)}")
    try:
        import tonic.datasets
    except ImportError:
        raise ValueError(f"task {name!r} {INSTALL_HINT}") from None
    root = root if root is not None else data
    if root is None:
        raise ValueError(f"task {name!r} needs root=PATH (tonic's save_to folder, holding {key}/)")
    check_positive(name, steps=steps, max_time=max_time, channels=channels)
    if channels > N_UNITS:
        raise ValueError(f"task {name!r}: channels must be <= {N_UNITS}, got {channels}")
    width = max_time * 1e6 / steps
    if abs(width - round(width)) > 1e-9 * width:
        raise ValueError(f"task {name!r}: the bin width max_time / steps = {width:g} µs must be a whole number of "
                         "microseconds (tonic gives spike times in whole microseconds)")
    loss_steps = resolve_loss_steps(name, loss_steps, steps, None)
    n_classes, split, train, test = SETS[key]
    folder = os.path.join(os.fspath(root), key)
    for which in ("train", "test"):
        # tonic looks for the archive it downloaded beside the unpacked file, and downloads again without it
        for path in (os.path.join(folder, f"{key.lower()}_{which}.h5{zip_}") for zip_ in ("", ".zip")):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"task {name!r}: {path!r} not found; tonic downloads {key} (the .h5 and "
                                        f"its .zip) with tonic.datasets.{key}(save_to={os.fspath(root)!r}), which "
                                        "needs the network")
    cls = getattr(tonic.datasets, key)
    x_train, y_train = _frames(cls(os.fspath(root), **{split: train}), steps, round(width), channels)
    x_test, y_test = _frames(cls(os.fspath(root), **{split: test}), steps, round(width), channels)
    return Dataset(
        name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, n_classes=n_classes,
        loss_steps=loss_steps,
        description=f"{key} through tonic: spike counts in {steps} bins over {max_time} s, {N_UNITS} units summed "
                    f"into {channels} channels",
    )
