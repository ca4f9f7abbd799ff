"""`hypr-edge pipeline`: the main job end to end, by running the other commands in order:
train -> quantize -> generate C -> build -> run C and emulator -> compare (inference and on-device learning),
then, when the firmware tools are installed, a Cortex-M4 board in QEMU: the test set before on-device learning,
learning over the UART on training sequences (checked against the emulator), the test set after it."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import sys
import time
from pathlib import Path

from .cli import main

FIRMWARE_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")
LEARN_SEQUENCES = 360   # as many as the digits test set: the learning step takes about as long as one test pass
BEFORE, AFTER = "on the device: the test set before learning", "on the device: the test set after learning"


def add_arguments(p) -> None:
    from .arguments import int_in, positive_int
    from .fixed.qmodel import MAX_CHUNK
    p.add_argument("--task", default="digits", help="built-in task (default digits)")
    p.add_argument("--data", help="data path, for tasks read from files")
    p.add_argument("--neuron", default="brf", help="neuron model (default brf)")
    p.add_argument("--hidden", default="64", help="hidden size (default 64)")
    p.add_argument("--epochs", type=positive_int, default=4, help="training epochs (default 4)")
    p.add_argument("--chunk", type=int_in(1, MAX_CHUNK), default=16, help="HYPR chunk length, in training and on the device")
    p.add_argument("--learn-sequences", type=positive_int, default=LEARN_SEQUENCES,
                   help=f"training sequences the device learns from over the UART (default {LEARN_SEQUENCES})")
    p.add_argument("--out", default="runs/pipeline", help="output folder (default runs/pipeline)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def steps(args) -> list[tuple[str, list[str]]]:
    out = Path(args.out)
    onnx, qmodel, csrc = out / "model.onnx", out / "model.q.npz", out / "c"
    data = ["--data", args.data] if args.data else []
    plan = [
        ("train", ["train", "--task", args.task, *data, "--neuron", args.neuron, "--method", "hypr",
                   "--chunk", str(args.chunk), "--hidden", str(args.hidden), "--epochs", str(args.epochs),
                   "--out", str(out)] + (["--quiet"] if args.quiet else [])),
        ("quantize", ["quantize", str(onnx), "-o", str(qmodel), *data, "--chunk", str(args.chunk)]),
        ("generate C and build it with gcc", ["generate", str(qmodel), "-o", str(csrc), "--build"]),
        ("compare C with the emulator: inference", ["verify", str(qmodel), "--task", args.task, *data]),
        ("compare C with the emulator: on-device learning",
         ["verify", str(qmodel), "--task", args.task, *data, "--learn"]),
    ]
    if all(shutil.which(tool) for tool in FIRMWARE_TOOLS):
        fw, learned = out / "firmware-m4", out / "learned-state.bin"
        quiet = ["--quiet"] if args.quiet else []
        plan += [
            ("generate Cortex-M4 firmware", ["generate", str(qmodel), "-o", str(fw), "--target", "cortex-m4"]),
            (BEFORE, ["stream", "--firmware", str(fw), "--task", args.task, *data, *quiet]),
            (f"on the device: learn from {args.learn_sequences} training sequences over the UART, "
             "compare with the emulator",
             ["stream", "--firmware", str(fw), "--task", args.task, *data, "--split", "train", "--limit",
              str(args.learn_sequences), "--learn", "--check", "--checkpoint", str(learned), *quiet]),
            (AFTER, ["stream", "--firmware", str(fw), "--task", args.task, *data, "--resume", str(learned), *quiet]),
        ]
    return plan


def run(args) -> int:
    from .arguments import check_output_dir
    check_output_dir(args.out)
    plan = steps(args)
    start = time.perf_counter()
    missing = [tool for tool in FIRMWARE_TOOLS if not shutil.which(tool)]
    if missing:
        print(f"note: {', '.join(missing)} not found: the Cortex-M steps are skipped (scripts/setup.sh installs them)")
    accuracy = {}
    for i, (title, argv) in enumerate(plan, 1):
        print(f"\n== [{i}/{len(plan)}] {title}: hypr-edge {' '.join(argv)}", flush=True)
        code, printed = run_step(argv)
        if code:
            print(f"pipeline stopped: step {i} ({title}) failed with exit code {code}")
            return code
        found = re.findall(r"accuracy (\d+(?:\.\d+)?)(%?)", printed)
        if found:  # the last accuracy a step prints is its result
            value, percent = found[-1]
            accuracy[title] = float(value) / (100 if percent else 1)
    print(f"\npipeline done in {time.perf_counter() - start:.0f} s: every step passed; artifacts in {args.out}")
    if "train" in accuracy:
        print(f"model: test accuracy {accuracy['train']:.1%} after training (float)")
    if BEFORE in accuracy and AFTER in accuracy:
        print(f"on-device learning over the UART ({args.learn_sequences} training sequences): test accuracy "
              f"{accuracy[BEFORE]:.1%} before, {accuracy[AFTER]:.1%} after (fixed point)")
    return 0


class _Tee(io.TextIOBase):
    """Writes through to a stream and keeps a copy: the step's output stays live and can be read afterwards."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_step(argv: list[str]) -> tuple[int, str]:
    """One command, as `hypr-edge ARGV` would run it; returns its exit code and what it printed."""
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        code = main(argv)
    return code, tee.copy.getvalue()
