"""`hypr-edge stream`: stream a data set to a board (or a firmware build booted in QEMU) through the board
protocol, for inference or on-device learning; print accuracy and a confusion matrix; with --check run the
emulator alongside and stop at the first difference in outputs or weights.

The data is a built-in task's split (--task) or the user's own files (--input: .npy/.npz, .csv, .wav or a
folder of .wav; hypr_edge/stream_inputs.py), as sequences or as one continuous stream with labels on some
steps only (--continuous, --labels). --record saves what the device answered at every step, --plot draws
accuracy over time (docs/streaming.md)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .arguments import check_output_file, positive_int, seed32
from .errors import CommandError
from .fixed.qmodel import NAN_POLICIES, quantize_input_values
from .fixed.quantize import QuantizedModel
from .host.client import Board, BoardError, ProtocolError
from .host.state import StateRejected
from .qemu import QemuError, QemuSession, resolve_elf
from .stream_inputs import LABEL_COLUMN, StreamData, read_input, read_segments, sequences
from .stream_report import RECORD_SUFFIXES, confusion, confusion_text, plot_accuracy, write_record
from .stream_runner import DeviceMismatch, StreamLog, play
from .targets.cortex_m import MODEL_FILE, FirmwareBuildError, build_firmware
from .tasks import load_task

__all__ = ["DeviceMismatch", "StreamResult", "stream_dataset", "add_arguments", "run"]

PLOT_EVERY = {False: 10, True: 1000}   # default live-plot period: sequences, or steps of a continuous stream


@dataclass
class StreamResult:
    n: int = 0
    correct: int = 0
    ticks: int = 0
    steps: int = 0
    outputs: list = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.n)


def stream_dataset(board, qm, x: np.ndarray, y: np.ndarray, *, learn: bool, loss_steps: int | None,
                   check: bool = False, progress: bool = True, keep_outputs: bool = False) -> StreamResult:
    """x: int16 (n, T, n_in) quantized inputs, y: (n,) classes. The device starts from its flashed weights
    (RESET FULL); each sequence starts from a zero state. With `check`, an emulator runs the same sequences and
    any difference in outputs (every step) or weights (after each learning sequence) raises DeviceMismatch."""
    data = sequences(np.asarray(x), np.asarray(y), loss_steps, "arrays")
    log = play(board, qm, data, learn=learn, check=check, progress=progress)
    res = StreamResult(n=data.n, correct=log.correct, ticks=int(log.ticks.sum()), steps=log.done)
    if keep_outputs:
        res.outputs = list(log.outputs.reshape(data.n, data.steps, -1))
    return res


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", help="pyserial URL of the board: /dev/ttyACM0, socket://127.0.0.1:PORT, loop://")
    src.add_argument("--firmware", help="firmware folder: build it if needed and boot it in QEMU")
    parser.add_argument("--board", help="with --firmware: QEMU board (default: the folder's default)")
    parser.add_argument("--model", help=f"quantized model (.npz); default: {MODEL_FILE} in the firmware folder")
    data = parser.add_argument_group("data (a built-in task, or your own files with --input)")
    data.add_argument("--task", help="built-in task (default digits)")
    data.add_argument("--data", help="data path, for tasks read from files")
    data.add_argument("--split", choices=("test", "train"), help="the task's split (default test)")
    data.add_argument("--input", metavar="PATH",
                      help="your own data: .npy/.npz (x, optional y), .csv (one row per step, optional label "
                           "column), .wav (one continuous recording) or a folder of .wav files (docs/streaming.md)")
    data.add_argument("--label-column", default=LABEL_COLUMN, metavar="NAME",
                      help=f"CSV column holding the labels (default {LABEL_COLUMN!r}; needs a header row)")
    data.add_argument("--labels", metavar="FILE",
                      help="CSV of start,end,class segments labelling the steps of a continuous stream")
    data.add_argument("--continuous", action="store_true",
                      help="stream the sequences one after another as one stream, without state resets")
    data.add_argument("--loss-steps", type=positive_int, metavar="K",
                      help="a sequence label applies to its last K steps (default: the task's, or the model's)")
    data.add_argument("--nan", choices=NAN_POLICIES, default="refuse",
                      help="NaN inputs: refuse the file (default) or stream them as 0")
    data.add_argument("--limit", type=positive_int, default=None,
                      help="stream only the first N sequences (a continuous input: its first N steps)")
    data.add_argument("--seed", type=seed32, default=0)
    parser.add_argument("--learn", action="store_true", help="on-device learning with the labels")
    parser.add_argument("--check", action="store_true", help="run the emulator alongside; stop at the first difference")
    out = parser.add_argument_group("results")
    out.add_argument("--record", metavar="FILE", help="save per-step outputs, predictions, labels and device "
                                                     "ticks (.npz, or .csv with one row per step)")
    out.add_argument("--record-spikes", action="store_true",
                     help="also record the hidden spikes of every step (one RUN per step: slower)")
    out.add_argument("--plot", metavar="PNG", help="draw accuracy over time and the confusion matrix (learning runs "
                                                   "draw one by default: next to --record, else next to the model)")
    out.add_argument("--plot-every", type=positive_int, metavar="N",
                     help=f"redraw the plot every N sequences (a continuous stream: N steps; default "
                          f"{PLOT_EVERY[False]} / {PLOT_EVERY[True]})")
    ck = parser.add_argument_group("checkpoints (docs/firmware.md)")
    ck.add_argument("--checkpoint", metavar="FILE", help="save the device's learning state to FILE at the end "
                                                         "(and with --every during the run)")
    ck.add_argument("--every", type=positive_int, metavar="N", help="with --checkpoint: also save every N "
                                                                    "sequences (a continuous stream: N steps)")
    ck.add_argument("--resume", metavar="FILE", help="start from a checkpoint's learning state instead of the "
                                                     "flashed weights; on the same data, skip the steps it had done")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# ---- data --------------------------------------------------------------------------------------------

def model_loss_steps(qm: QuantizedModel) -> int | None:
    """The loss window the model was trained with (recorded by `hypr-edge train`), None for every step."""
    try:
        return int(qm.info.get("loss_steps"))
    except (TypeError, ValueError):
        return None


def task_data(args, qm: QuantizedModel) -> StreamData:
    task, split = args.task or "digits", args.split or "test"
    try:
        ds = load_task(task, seed=args.seed, data=args.data)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
    if x.shape[2] != qm.n_in:
        raise CommandError(f"task {task} has {x.shape[2]} inputs, the model {qm.n_in}")
    if ds.n_classes > qm.n_out:
        raise CommandError(f"task {task} has {ds.n_classes} classes, the model {qm.n_out} outputs")
    return sequences(x, y, args.loss_steps or ds.loss_steps, f"task {task} ({split} split)")


def load_data(args, qm: QuantizedModel, model: str) -> StreamData:
    """The data to stream, as asked by the data options (float inputs, checked)."""
    if args.input:
        given = [o for o, v in (("--task", args.task), ("--data", args.data), ("--split", args.split)) if v]
        if given:
            raise CommandError(f"--input replaces {', '.join(given)}: give one or the other")
        data = read_input(args.input, n_in=qm.n_in, n_out=qm.n_out, info=qm.info, model_name=model,
                          loss_steps=args.loss_steps or model_loss_steps(qm), label_column=args.label_column,
                          allow_nan=args.nan == "zero")
    else:
        data = task_data(args, qm)
    was_continuous = data.continuous
    if args.limit and not was_continuous:
        data = data.limit(args.limit)
    if args.continuous:
        data = data.as_continuous()
    if args.labels:
        data.require_continuous(args.labels)
        data = data.with_step_labels(read_segments(Path(args.labels), data.steps, qm.n_out), args.labels)
    if args.limit and was_continuous:
        data = data.limit(args.limit)
    return data


def quantize_inputs(qm: QuantizedModel, x: np.ndarray, nan: str) -> tuple[np.ndarray, int, int]:
    """int16 Q.fx inputs by the input policy (hypr_edge.fixed.qmodel.quantize_input_values): values beyond the
    format saturate to its rails with their sign; NaN refused, or 0 with --nan zero. Returns the values and how
    many saturated and how many NaN became 0."""
    q = quantize_input_values(x, qm.formats["fx"], nan=nan)
    return q.values.astype(np.int16), q.saturated, q.nan_zeroed


def describe(data: StreamData) -> str:
    if data.continuous:
        return f"{data.source}: a continuous stream of {data.steps} steps, {data.labelled_steps} labelled"
    labelled = (f"{int((data.sequence_labels >= 0).sum())} labelled" if data.sequence_labels is not None
                else f"{data.labelled_steps} labelled steps")
    return f"{data.source}: {data.n} sequences of {data.steps} steps, {labelled}"


def checkpoints(args, qm: QuantizedModel, data: StreamData):
    """--resume / --checkpoint / --every: (the data still to stream, the resumed Checkpoint or None, the
    StreamCheckpoints saver or None); hypr_edge/stream_checkpoint.py."""
    if args.every and not args.checkpoint:
        raise CommandError("--every needs --checkpoint FILE")
    if not (args.resume or args.checkpoint):
        return data, None, None
    from .stream_checkpoint import StreamCheckpoints, load_resume, skip_done
    full, resume, offset = data, None, 0
    if args.resume:
        resume = load_resume(args.resume, qm)
        data, offset = skip_done(resume, data)
        where = f"after step {offset} of this data" if offset else "at the start of this data (other data)"
        print(f"resume: {args.resume} ({resume.updates} chunk updates), streaming {where}")
        if data.n == 0 or data.steps == 0:
            raise CommandError(f"--resume {args.resume}: the checkpoint has done all {offset} steps of this data")
    saver = None
    if args.checkpoint:
        saver = StreamCheckpoints(check_output_file(args.checkpoint), args.every, qm, full, offset)
    return data, resume, saver


# ---- outputs -----------------------------------------------------------------------------------------

def output_paths(args, model: str) -> tuple[Path | None, Path | None, bool]:
    """(record, plot, plot_is_default), checked before any work: a run that cannot save does not start."""
    record = plot = None
    if args.record_spikes and not args.record:
        raise CommandError("--record-spikes needs --record FILE")
    if args.plot_every and not args.plot:
        raise CommandError("--plot-every needs --plot FILE")
    if args.record:
        if Path(args.record).suffix.lower() not in RECORD_SUFFIXES:
            raise CommandError(f"--record {args.record}: the file name must end in .npz or .csv")
        record = check_output_file(args.record)
    if args.plot:
        return record, check_output_file(args.plot), False
    if args.learn:   # learning runs draw how fast the device adapts; where to is a default, so never fail on it
        plot = record.with_suffix(".png") if record else Path(model).parent / "stream-learning.png"
        try:
            return record, check_output_file(plot), True
        except CommandError as err:
            print(f"note: no accuracy plot ({err})")
    return record, None, False


def live_plot(path: Path, every: int, continuous: bool, n_classes: int, title: str):
    """on_block callback: redraw the PNG whenever `every` more sequences (continuous: steps) are done."""
    last = [0]

    def redraw(log: StreamLog) -> None:
        done = log.done if continuous else log.done // log.data.steps
        if done - last[0] >= every:
            plot_accuracy(path, log, n_classes, title)
            last[0] = done
    return redraw


def report(log: StreamLog, data: StreamData, qm: QuantizedModel, st, learn: bool) -> None:
    mode = "on-device learning" if learn else "inference"
    if data.continuous:
        what = f"{log.done} steps of a continuous stream"
        scored = f"accuracy {log.accuracy:.4f} over {log.scored} labelled steps" if log.scored else "no labels"
    else:
        what = f"{log.done // data.steps} sequences"
        unit = "sequences" if log.by_sequence else "labelled steps"
        scored = f"accuracy {log.accuracy:.4f} ({log.correct}/{log.scored} {unit})" if log.scored else "no labels"
    print(f"{mode}: {what}, {scored}")
    ticks = st.ticks_learn if learn else st.ticks_infer
    print(f"device: {log.done} steps, {st.spikes} spikes, {ticks / max(1, log.done):.1f} ticks/step "
          f"at {st.tick_hz} Hz (including output recording)")
    device = f", device {log.done / log.device_seconds:.0f} steps/s of compute" if log.device_seconds else ""
    print(f"link: {log.done / max(log.wall_s, 1e-9):.0f} steps/s over the link{device}")
    if log.scored and qm.n_out <= 20:
        for line in confusion_text(confusion(log, qm.n_out)):
            print(line)


def check_device_sizes(board, qm: QuantizedModel) -> None:
    """A device that claims this model (its hash) must also have its sizes; else its replies cannot be trusted."""
    info = board.hello()
    sizes, want = (info.n_in, info.n_hidden, info.n_out), (qm.n_in, qm.n_hidden, qm.n_out)
    if info.model_hash == qm.model_hash() and sizes != want:
        raise ProtocolError(f"device claims model {info.model_hash:08x} but reports n_in, n_hidden, n_out = "
                            f"{', '.join(map(str, sizes))}; the model has {', '.join(map(str, want))}")


def run(args) -> int:
    model = args.model or (str(Path(args.firmware) / MODEL_FILE) if args.firmware else None)
    if model is None:
        raise CommandError("--model is needed with --port")
    if not Path(model).is_file():
        raise CommandError(f"no quantized model at {model}")
    qm = QuantizedModel.load(model)
    data = load_data(args, qm, model)
    if args.learn and data.labelled_steps == 0:
        raise CommandError(f"--learn needs labels, and {data.source} has none (a y array, a label column, "
                           f"--labels segments, or classes in the WAV names)")
    record, plot, _ = output_paths(args, model)
    xq, saturated, nan_zeroed = quantize_inputs(qm, data.x, args.nan)
    data = replace(data, x=xq)
    data, resume, saver = checkpoints(args, qm, data)
    print(f"input: {describe(data)}")
    if saturated:
        print(f"input: {saturated} of {xq.size} values beyond the input format (Q.{qm.formats['fx']}, "
              f"|x| < {32768 / (1 << qm.formats['fx']):g}) saturated to its limits")
    if nan_zeroed:
        print(f"input: {nan_zeroed} NaN values streamed as 0 (--nan zero)")
    title = f"{'on-device learning' if args.learn else 'inference'}: {Path(data.source).name or data.source}"
    on_block = None
    if args.plot:
        on_block = live_plot(plot, args.plot_every or PLOT_EVERY[data.continuous], data.continuous, qm.n_out, title)
    if saver is not None:
        plot_block = on_block
        on_block = lambda log: (plot_block and plot_block(log), saver.on_block(board, log))  # noqa: E731

    session = board = None
    try:
        if args.firmware:
            try:
                elf, name = resolve_elf(args.firmware, args.board)
                build_firmware(args.firmware, name)
                session = QemuSession(elf, name).start()
                board = session.connect()
            except (QemuError, FirmwareBuildError) as err:
                raise CommandError(str(err)) from None
        else:
            board = Board.open(args.port)
            board.sync()
        check_device_sizes(board, qm)
        log = play(board, qm, data, learn=args.learn, check=args.check, record_spikes=args.record_spikes,
                   progress=not args.quiet, on_block=on_block, resume=resume and resume.image)
        st = board.stats()
        if saver is not None:
            saver.save(board, log.done)
    except DeviceMismatch as err:
        print(f"MISMATCH: {err}")
        return 1
    except StateRejected as err:
        raise CommandError(str(err)) from None
    except (ProtocolError, BoardError) as err:
        if session is not None and session.has_exited():   # the link died with QEMU: say so
            raise CommandError(f"{session.exit_error()} (the board stopped answering: {err})") from None
        raise CommandError(str(err)) from None
    finally:
        if session is not None:
            session.stop(board)
        if board is not None:
            board.close()
    report(log, data, qm, st, args.learn)
    if args.check:
        print("check: outputs" + (" and weights" if args.learn else "") + " bit-identical to the emulator")
    if saver is not None:
        print(f"wrote {saver.path} (learning state after {saver.offset + log.done} steps"
              + (f"; {saver.saved} saves" if saver.saved > 1 else "") + ")")
    if record is not None:
        write_record(record, log, qm.model_hash())
        print(f"wrote {record}")
    if plot is not None:
        plot_accuracy(plot, log, qm.n_out, title)
        print(f"wrote {plot}")
    return 0
