"""`hypr-edge stream`: stream a data set to a board (or a firmware build booted in QEMU) through the board
protocol, for inference or on-device learning; print accuracy; with --check run the emulator alongside and
stop at the first difference in outputs or weights."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL_FILE = "model.q.npz"  # a firmware folder from `hypr-edge generate --target cortex-m*` carries its model


class Mismatch(Exception):
    pass


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


def labels_for(T: int, y: int, loss_steps: int | None) -> np.ndarray:
    """Per-step labels: y on the loss-carrying steps, -1 elsewhere (as hypr_edge.codegen.verify)."""
    lab = np.full(T, int(y), dtype=np.int64)
    if loss_steps:
        lab[: max(0, T - loss_steps)] = -1
    return lab


def stream_dataset(board, qm, x: np.ndarray, y: np.ndarray, *, learn: bool, loss_steps: int | None,
                   check: bool = False, progress: bool = True, keep_outputs: bool = False) -> StreamResult:
    """x: int16 (n, T, n_in) quantized inputs. The device starts from its flashed weights (RESET FULL); each
    sequence starts from a zero state. With `check`, an emulator runs the same sequences and any difference in
    outputs (every step) or weights (after each learning sequence) raises Mismatch."""
    from tqdm import tqdm
    from host.protocol import ResetMode

    info = board.hello()
    if info.model_hash != qm.model_hash():
        raise Mismatch(f"device runs model {info.model_hash:08x}, this model is {qm.model_hash():08x}")
    board.reset(ResetMode.FULL)
    board.clear_stats()
    emu = None
    if check:
        from hypr_edge.fixed.emulator import Emulator
        emu = Emulator(qm, batch=1, learn=learn)
    res = StreamResult()
    k = loss_steps or x.shape[1]
    bar = tqdm(range(len(x)), desc="learn" if learn else "infer", unit="seq", disable=not progress)
    for i in bar:
        out, ticks = board.run_sequence(x[i], learn=learn, label=int(y[i]), loss_steps=loss_steps)
        res.ticks += ticks
        res.steps += x.shape[1]
        if keep_outputs:
            res.outputs.append(out)
        res.n += 1
        res.correct += int(out[-k:].astype(np.int64).sum(0).argmax() == y[i])
        if emu is not None:
            emu.reset_state()
            labels = labels_for(x.shape[1], y[i], loss_steps)[None] if learn else None
            want = emu.run(x[i][None].astype(np.int64), labels, learn=learn, keep=("outputs",))["outputs"][0]
            if not np.array_equal(out, want):
                t = int(np.argwhere((out != want).any(axis=1))[0, 0])
                raise Mismatch(f"sequence {i} step {t}: device outputs {out[t].tolist()}, "
                               f"emulator {want[t].tolist()}")
            if learn:
                check_weights(board, emu, f"after sequence {i}")
        bar.set_postfix(acc=f"{res.accuracy:.3f}", refresh=False)  # shown at the next update
    return res


def check_weights(board, emu, where: str) -> None:
    for name, ref in (("w_readout", emu.wo[0]), ("w_hidden", emu.w[0])):
        dev = board.read_tensor(name)
        if not np.array_equal(dev, np.asarray(ref).ravel()):
            j = int(np.argwhere(dev != np.asarray(ref).ravel())[0, 0])
            raise Mismatch(f"{where}: {name}[{j}] is {int(dev[j])} on the device, {int(np.asarray(ref).ravel()[j])} "
                           f"in the emulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", help="pyserial URL of the board: /dev/ttyACM0, socket://127.0.0.1:PORT, loop://")
    src.add_argument("--firmware", help="firmware folder: build it if needed and boot it in QEMU")
    parser.add_argument("--board", help="with --firmware: QEMU board (default: the folder's default)")
    parser.add_argument("--model", help=f"quantized model (.npz); default: {MODEL_FILE} in the firmware folder")
    parser.add_argument("--task", default="digits", help="built-in task (default digits)")
    parser.add_argument("--data", help="data path, for tasks read from files")
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--limit", type=int, default=None, help="stream only the first N sequences")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learn", action="store_true", help="on-device learning with the labels")
    parser.add_argument("--check", action="store_true", help="run the emulator alongside; stop at the first difference")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from hypr_edge.cli import CommandError
    from hypr_edge.fixed.quantize import QuantizedModel
    from hypr_edge.tasks import load_task
    from host.client import BoardError, ProtocolError

    model = args.model or (str(Path(args.firmware) / MODEL_FILE) if args.firmware else None)
    if model is None:
        raise CommandError("--model is needed with --port")
    if not Path(model).is_file():
        raise CommandError(f"no quantized model at {model}")
    qm = QuantizedModel.load(model)
    try:
        ds = load_task(args.task, seed=args.seed, data=args.data)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    x, y = (ds.x_test, ds.y_test) if args.split == "test" else (ds.x_train, ds.y_train)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    if x.shape[2] != qm.n_in:
        raise CommandError(f"task {args.task} has {x.shape[2]} inputs, the model {qm.n_in}")
    xq = qm.quantize_inputs(x).astype(np.int16)

    session = board = None
    try:
        if args.firmware:
            from hypr_edge import firmware as fw
            from hypr_edge.run import QemuError, QemuSession, resolve_elf
            try:
                elf, name = resolve_elf(args.firmware, args.board)
                fw.build(args.firmware, name)
                session = QemuSession(elf, name).start()
                board = session.connect()
            except (QemuError, fw.BuildError) as err:
                raise CommandError(str(err)) from None
        else:
            from host.client import Board
            board = Board.open(args.port)
            board.sync()
        res = stream_dataset(board, qm, xq, y, learn=args.learn, loss_steps=ds.loss_steps, check=args.check,
                             progress=not args.quiet)
        st = board.stats()
    except Mismatch as err:
        print(f"MISMATCH: {err}")
        return 1
    except (ProtocolError, BoardError) as err:
        raise CommandError(str(err)) from None
    finally:
        if session is not None:
            session.stop(board)
        if board is not None:
            board.close()
    mode = "on-device learning" if args.learn else "inference"
    print(f"{mode}: {res.n} sequences, accuracy {res.accuracy:.4f}")
    ticks = st.ticks_learn if args.learn else st.ticks_infer
    print(f"device: {res.steps} steps, {st.spikes} spikes, {ticks / max(1, res.steps):.1f} ticks/step "
          f"at {st.tick_hz} Hz (including output recording)")
    if args.check:
        print("check: outputs" + (" and weights" if args.learn else "") + " bit-identical to the emulator")
    return 0
