"""Plays a StreamData on a board through the protocol, block by block, and keeps what the device answered.

One loop serves sequences and continuous streams: a sequence (or the whole continuous stream) is sent in blocks
of the device's input buffer (buf_steps): LOAD_INPUT, RUN per stretch of equal label (learning; unlabelled
steps run with label -1, no loss), READ_OUTPUTS. The state is reset before a sequence's first step and the last
partial HYPR chunk is applied after its last step (END_CHUNK), never in between, so a continuous stream keeps
its state and its chunk position across blocks exactly as one long sequence. With `check` the emulator steps
through the same blocks the same way and any difference in outputs (every step), spikes (when recorded) or
weights (after each sequence) raises DeviceMismatch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm import tqdm

from .errors import CommandError
from .fixed.emulator import Emulator
from .host.protocol import NO_LABEL, ResetMode
from .stream_inputs import StreamData


class DeviceMismatch(Exception):
    """The device's outputs, spikes or weights differ from the emulator's (`--check`)."""


@dataclass(frozen=True)
class Run:
    """One RUN command: `steps` steps from global step `start` (sequence-major), its ticks and hidden spikes."""
    start: int
    steps: int
    ticks: int
    spikes: int


class StreamLog:
    """Per step (sequence-major, `done` of them so far): outputs, the ticks of the RUN that ended at that step
    (0 elsewhere, so the column sums to the device's time), spikes with `record_spikes`; per RUN: `runs`;
    and the scored items (sequences with a label, or labelled steps) with their predictions."""

    def __init__(self, data: StreamData, n_out: int, n_hidden: int, learn: bool, record_spikes: bool):
        total = data.n * data.steps
        self.data, self.learn = data, learn
        self.outputs = np.zeros((total, n_out), np.int32)
        self.spikes = np.zeros((total, n_hidden), np.uint8) if record_spikes else None
        self.ticks = np.zeros(total, np.int64)
        self.runs: list[Run] = []
        self.done = 0                       # steps played
        self.tick_hz = 0
        self.wall_s = 0.0
        self.positions: list[int] = []      # scored items: sequence index, or global step of a labelled step
        self.truth: list[int] = []
        self.predictions: list[int] = []

    @property
    def by_sequence(self) -> bool:
        return self.data.sequence_labels is not None

    @property
    def scored(self) -> int:
        return len(self.truth)

    @property
    def correct(self) -> int:
        return int(np.sum(np.asarray(self.truth) == np.asarray(self.predictions)))

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.scored)

    @property
    def device_seconds(self) -> float:
        return float(self.ticks[:self.done].sum()) / self.tick_hz if self.tick_hz else 0.0

    def step_predictions(self) -> np.ndarray:
        """The class with the largest output at each played step."""
        return self.outputs[:self.done].argmax(axis=1)

    def sequence_prediction(self, i: int) -> int:
        """Sequence i's class: the largest output summed over its loss window (as training and verify score)."""
        t = self.data.steps
        k = min(self.data.loss_steps or t, t)
        return int(self.outputs[(i + 1) * t - k:(i + 1) * t].astype(np.int64).sum(0).argmax())

    def score(self, start: int, end: int) -> None:
        """Score the steps start..end-1 just played (a sequence when its last step is among them)."""
        t = self.data.steps
        if self.by_sequence:
            if end % t == 0:
                i = end // t - 1
                y = int(self.data.sequence_labels[i])
                if y >= 0:
                    self.positions.append(i)
                    self.truth.append(y)
                    self.predictions.append(self.sequence_prediction(i))
            return
        labels = self.data.step_labels.reshape(-1)[start:end]
        at = np.flatnonzero(labels >= 0)
        self.positions += (start + at).tolist()
        self.truth += labels[at].tolist()
        self.predictions += self.outputs[start + at].argmax(axis=1).tolist()


def label_runs(labels: np.ndarray, learn: bool, one_step: bool) -> list[tuple[int, int]]:
    """[a, b) stretches of a block that one RUN each plays: the block, cut where the label changes (learning:
    a RUN carries one label) or at every step (`one_step`, to read the spikes after each)."""
    n = len(labels)
    if one_step:
        return [(t, t + 1) for t in range(n)]
    if not learn:
        return [(0, n)]
    cuts = [0, *(np.flatnonzero(labels[1:] != labels[:-1]) + 1).tolist(), n]
    return list(zip(cuts, cuts[1:]))


def emulate_block(emu: Emulator, x: np.ndarray, labels: np.ndarray, learn: bool, reset: bool,
                  end_chunk: bool) -> tuple[np.ndarray, np.ndarray]:
    """The emulator through one block as the device plays it: outputs (n, n_out) and spikes (n, n_hidden)."""
    if reset:
        emu.reset_state()
    outs, spikes = [], []
    for t in range(len(x)):
        xt = x[t][None].astype(np.int64)
        if learn:
            emu.learn_step(xt, labels[t:t + 1])
        else:
            emu.step(xt)
        outs.append(emu.o[0].copy())
        spikes.append(emu.z[0].copy())
    if end_chunk and learn:
        emu.end_chunk()
    return np.array(outs), np.array(spikes)


def where(data: StreamData, step: int) -> str:
    """A global step in words: "step 1234" (continuous) or "sequence 3 step 12"."""
    if data.continuous:
        return f"step {step}"
    return f"sequence {step // data.steps} step {step % data.steps}"


def check_weights(board, emu: Emulator, when: str) -> None:
    for name, ref in (("w_readout", emu.wo[0]), ("w_hidden", emu.w[0])):
        dev = board.read_tensor(name)
        want = np.asarray(ref).ravel()
        if not np.array_equal(dev, want):
            j = int(np.argwhere(dev != want)[0, 0])
            raise DeviceMismatch(f"{when}: {name}[{j}] is {int(dev[j])} on the device, {int(want[j])} in the emulator")


def play(board, qm, data: StreamData, *, learn: bool, check: bool = False, record_spikes: bool = False,
         progress: bool = True, on_block: Callable[[StreamLog], None] | None = None,
         resume: bytes | None = None) -> StreamLog:
    """Stream `data` (x: int16 Q.fx) to `board` from its flashed weights (RESET FULL); returns the log.
    `on_block(log)` runs after every block (live plots; a place for checkpoints). `resume`: a learning-state
    image (hypr_edge/checkpoint.py) to start from instead; a continuous stream then goes on without a reset."""
    info = board.hello()
    if info.model_hash != qm.model_hash():
        raise DeviceMismatch(f"device runs model {info.model_hash:08x}, this model is {qm.model_hash():08x}")
    if record_spikes and "spikes" not in board.tensors():
        raise CommandError(f"--record-spikes: the device has no 'spikes' tensor (it has "
                           f"{', '.join(board.tensors())})")
    board.reset(ResetMode.FULL)
    board.clear_stats()
    log = StreamLog(data, qm.n_out, qm.n_hidden, learn, record_spikes)
    log.tick_hz = board.stats().tick_hz
    emu = Emulator(qm, batch=1, learn=learn) if check else None
    if resume is not None:
        from .host.state import write_state
        write_state(board, resume)
        if emu is not None:
            emu.load_state(resume)
    carry = resume is not None and data.continuous   # the first block continues the checkpoint's stream
    T, buf = data.steps, info.buf_steps
    bar = tqdm(total=data.n * T if data.continuous else data.n, unit="step" if data.continuous else "seq",
               desc="learn" if learn else "infer", disable=not progress, smoothing=0.1)
    t0 = time.perf_counter()
    try:
        for i in range(data.n):
            for s in range(0, T, buf):
                n = min(buf, T - s)
                first = i * T + s
                x, labels = data.x[i, s:s + n], data.step_labels[i, s:s + n]
                board.load_input(0, x)
                for a, b in label_runs(labels, learn, record_spikes):
                    label = int(labels[a]) if learn else NO_LABEL
                    r = board.run(a, b - a, learn=learn, label=label, reset_state=(s + a == 0 and not carry),
                                  end_chunk=(learn and s + b == T))
                    log.runs.append(Run(first + a, b - a, r.ticks, r.spikes))
                    log.ticks[first + b - 1] += r.ticks
                    if record_spikes:
                        log.spikes[first + a] = board.read_tensor("spikes")
                log.outputs[first:first + n] = board.read_outputs(0, n)
                if emu is not None:
                    compare(log, emu, x, labels, first, n, learn, reset=(s == 0 and not carry),
                            end_chunk=(s + n == T))
                log.done = first + n
                log.score(first, first + n)
                log.wall_s = time.perf_counter() - t0
                if data.continuous:
                    bar.update(n)
                show(bar, log)
                if on_block is not None:
                    on_block(log)
            if emu is not None and learn:
                check_weights(board, emu, "at the end of the stream" if data.continuous else f"after sequence {i}")
            if not data.continuous:
                bar.update(1)
    finally:
        bar.close()
    return log


def compare(log: StreamLog, emu: Emulator, x, labels, first: int, n: int, learn: bool, reset: bool,
            end_chunk: bool) -> None:
    want, want_z = emulate_block(emu, x, labels, learn, reset, end_chunk)
    got = log.outputs[first:first + n]
    if not np.array_equal(got, want):
        t = int(np.argwhere((got != want).any(axis=1))[0, 0])
        raise DeviceMismatch(f"{where(log.data, first + t)}: device outputs {got[t].tolist()}, "
                             f"emulator {want[t].tolist()}")
    if log.spikes is not None:
        got_z = log.spikes[first:first + n]
        if not np.array_equal(got_z, want_z):
            t = int(np.argwhere((got_z != want_z).any(axis=1))[0, 0])
            raise DeviceMismatch(f"{where(log.data, first + t)}: device spikes {np.flatnonzero(got_z[t]).tolist()}, "
                                 f"emulator {np.flatnonzero(want_z[t]).tolist()}")


def show(bar, log: StreamLog) -> None:
    """Progress-bar postfix: running accuracy, steps per second over the link (wall clock) and on the device
    (its own ticks: the model's compute alone)."""
    post = {}
    if log.scored:
        post["acc"] = f"{log.accuracy:.3f}"
    post["link"] = f"{log.done / max(log.wall_s, 1e-9):.0f} steps/s"
    if log.device_seconds > 0:
        post["device"] = f"{log.done / log.device_seconds:.0f} steps/s"
    bar.set_postfix(post, refresh=False)   # shown at the bar's next update
