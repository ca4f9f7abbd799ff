"""Checkpoints of `hypr-edge stream` (--checkpoint FILE [--every N], --resume FILE; docs/firmware.md).

A checkpoint written by the stream records, besides the device's learning state, how far the stream got (`done`
steps, sequence-major) and the SHA-256 of those steps' inputs and labels. Resuming on the same data skips them, so
`--limit 20 --checkpoint c.ckpt`, then `--limit 40 --resume c.ckpt` learns on sequences 1..20, then 21..40, as
one run of 40 would; on other data the stream starts at its beginning, from the checkpoint's state.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from .checkpoint import Checkpoint, CheckpointError
from .errors import CommandError
from .stream_inputs import StreamData


def prefix_digest(data: StreamData, steps: int) -> str:
    """SHA-256 of the first `steps` steps (sequence-major) of the quantized inputs and their labels."""
    x = np.ascontiguousarray(data.x, dtype="<i2").reshape(-1, data.x.shape[-1])[:steps]
    labels = np.ascontiguousarray(data.step_labels, dtype="<i8").reshape(-1)[:steps]
    return hashlib.sha256(x.tobytes() + labels.tobytes()).hexdigest()


def load_resume(path: str, qm) -> Checkpoint:
    try:
        ck = Checkpoint.load(path)
    except CheckpointError as err:
        raise CommandError(str(err)) from None
    if ck.qm.model_hash() != qm.model_hash():
        raise CommandError(f"--resume {path}: the checkpoint belongs to model {ck.qm.model_hash():08x}, this "
                           f"stream's model is {qm.model_hash():08x}")
    return ck


def skip_done(ck: Checkpoint, data: StreamData) -> tuple[StreamData, int]:
    """The data still to stream after the checkpoint, and the steps skipped: those the checkpoint's stream had
    done when they are this data's first steps (same inputs and labels), else none."""
    done = int(ck.meta.get("stream", {}).get("done", 0))
    total = data.n * data.steps
    same = (0 < done <= total and ck.meta["stream"].get("continuous") == data.continuous
            and ck.meta["stream"].get("digest") == prefix_digest(data, done))
    if not same:
        return data, 0
    if data.continuous:
        return replace(data, x=data.x[:, done:], step_labels=data.step_labels[:, done:]), done
    if done % data.steps:
        return data, 0
    k = done // data.steps
    seq = None if data.sequence_labels is None else data.sequence_labels[k:]
    return replace(data, x=data.x[k:], step_labels=data.step_labels[k:], sequence_labels=seq), done


class StreamCheckpoints:
    """Saves the device's learning state to `path` every `every` sequences (a continuous stream: at the first block
    end after every `every` steps) and at the end; `offset` steps of `full` were done before this run (resume)."""

    def __init__(self, path: str | Path, every: int | None, qm, full: StreamData, offset: int = 0, meta=None):
        self.path, self.every, self.qm, self.full, self.offset = Path(path), every, qm, full, offset
        self.meta = dict(meta or {})
        self.last = 0
        self.saved = 0

    def save(self, board, done: int) -> None:
        """Read the device's state and write the file (atomically) with the stream position."""
        total = self.offset + done
        stream = {"done": total, "continuous": self.full.continuous, "steps": self.full.steps,
                  "digest": prefix_digest(self.full, total), "source": self.full.source}
        Checkpoint.from_board(board, self.qm, stream=stream, **self.meta).save(self.path)
        self.saved += 1

    def on_block(self, board, log) -> None:
        """After each block of `play`: save when `every` more sequences (steps) are done, at a sequence end."""
        if not self.every:
            return
        unit = 1 if log.data.continuous else log.data.steps
        if log.done % unit == 0 and (log.done - self.last) // unit >= self.every:
            self.save(board, log.done)
            self.last = log.done
