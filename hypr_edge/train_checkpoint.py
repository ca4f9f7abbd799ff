"""Training checkpoints: `hypr-edge train --checkpoint-every N` saves, `--resume OUT` continues.

A checkpoint holds everything the next optimizer step depends on: the weights, Adam's moments, the learning-rate
schedule's position, the random generators' states, the epoch, this epoch's sample order and the next batch in it,
the curves so far and the loss guard's reference. A resumed run therefore makes the same steps as one that never
stopped (tests/test_train_config.py checks the final weights are identical).

The file is read with torch.load(weights_only=True), which builds tensors and plain values only and runs no code
from the file; it is written to a temporary name and renamed, so a run killed while saving keeps the previous one."""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

FORMAT = "hypr-edge training checkpoint"
VERSION = 1
FILE_NAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (unreadable, not ours, another run's): one line."""


def save(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    os.replace(tmp, path)


def load(path: Path, run: dict) -> dict:
    """The checkpoint at `path`, checked against the run's options `run` (the ones that define the run)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from (was the run started with --checkpoint-every?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a hypr-edge training checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')!r}, this hypr-edge reads {VERSION}")
    missing = [k for k in ("run", "model", "optimizer", "scheduler", "rng", "position") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint (no {', '.join(missing)})")
    if state["run"] != run:
        diff = sorted(k for k in set(run) | set(state["run"]) if state["run"].get(k) != run.get(k))
        k = diff[0]
        raise CheckpointError(f"{path}: the checkpoint belongs to another run ({k} = {state['run'].get(k)!r} there, "
                              f"{run.get(k)!r} in this run's config.toml)")
    state["path"] = str(path)
    return state


def check_model_state(path: Path, model_state: dict, model: torch.nn.Module) -> None:
    """The checkpoint's weights fit the model: same names, shapes and dtypes."""
    own = model.state_dict()
    if set(own) != set(model_state):
        raise CheckpointError(f"{path}: the checkpoint's parameters do not match the model's")
    for name, value in own.items():
        theirs = model_state[name]
        if not isinstance(theirs, torch.Tensor) or theirs.shape != value.shape or theirs.dtype != value.dtype:
            raise CheckpointError(f"{path}: the checkpoint's {name} does not match the model's "
                                  f"{tuple(value.shape)} {value.dtype}")
