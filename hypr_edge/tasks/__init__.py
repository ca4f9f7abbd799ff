"""Built-in data sets: `load_task(name, seed=..., data=..., **options) -> Dataset` (docs/tasks.md)."""
from __future__ import annotations

import inspect
import os
from typing import Callable

from ._util import require_path
from .base import Dataset
from .cue import load_cue
from .digits import load_digits_task
from .mnist1d_task import load_mnist1d
from .resonance import load_resonance
from .shd import WHAT as SHD_WHAT
from .shd import load_shd


def load_fsdd(data: str | os.PathLike | None = None, seed: int = 0, **options) -> Dataset:
    """Free Spoken Digit Dataset; its module (and its audio dependencies) load only when asked for."""
    from .fsdd import load_fsdd as _load_fsdd
    return _load_fsdd(data, seed=seed, **options)


TASKS: dict[str, Callable[..., Dataset]] = {
    "resonance": load_resonance,
    "digits": load_digits_task,
    "mnist1d": load_mnist1d,
    "cue": load_cue,
    "shd": load_shd,
    "fsdd": load_fsdd,
}

# Tasks read from local files: name -> what `data` must point to.
NEEDS_DATA: dict[str, str] = {
    "shd": SHD_WHAT,
    "fsdd": "a local copy of the Free Spoken Digit Dataset, see docs/tasks.md",
}


def _check_options(name: str, loader: Callable[..., Dataset], options: dict) -> None:
    """A one-line ValueError for an option the loader does not take (instead of a TypeError)."""
    params = inspect.signature(loader).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # the loader checks its own options
    known = [p for p in params if p not in ("seed", "data")]
    for key in options:
        if key not in known:
            raise ValueError(f"task {name!r} has no option {key!r}; its options: {', '.join(known)}")


def load_task(name: str, *, seed: int = 0, data: str | os.PathLike | None = None, **options) -> Dataset:
    """The data set `name`, identical arrays for the same seed and options."""
    if name.startswith("tonic:"):  # tonic's data sets: an optional extra (GPL-3.0), hypr_edge/tasks/tonic_task.py
        from .tonic_task import load_tonic
        _check_options(name, load_tonic, options)
        return load_tonic(name, seed=seed, data=data, **options)
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    loader = TASKS[name]
    _check_options(name, loader, options)
    if name in NEEDS_DATA:
        return loader(require_path(name, data, NEEDS_DATA[name]), seed=seed, **options)
    if data is not None:
        raise ValueError(f"task {name!r} is generated and takes no data path (got data={data!r})")
    return loader(seed=seed, **options)


__all__ = ["Dataset", "TASKS", "NEEDS_DATA", "load_task"]
