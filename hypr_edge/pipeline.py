"""`hypr-edge pipeline`: the main job end to end, by running the other commands in order:
train -> quantize -> generate C -> build -> run C and emulator -> compare (inference and on-device learning),
then, when the firmware tools are installed, Cortex-M4 firmware booted in QEMU that learns from training sequences
streamed over its UART, checked bit for bit against the emulator; last, the test accuracy of the device's
arithmetic before and after that learning."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .cli import main

FIRMWARE_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")
LEARN_SEQUENCES = 60    # learning over the UART with the emulator checking every step: ~100-200 steps/s on 2 cores


def add_arguments(p) -> None:
    from .arguments import int_in, positive_int
    from .fixed.qmodel import MAX_CHUNK
    p.add_argument("--task", default="digits", help="built-in task (default digits)")
    p.add_argument("--data", help="data path, for tasks read from files")
    p.add_argument("--neuron", default="brf", help="neuron model (default brf)")
    p.add_argument("--hidden", default="64", help="hidden size (default 64)")
    p.add_argument("--epochs", type=positive_int, default=4, help="training epochs (default 4)")
    p.add_argument("--chunk", type=int_in(1, MAX_CHUNK), default=16,
                   help="HYPR chunk length on the device (default 16; training uses its own default, 32: the "
                        "gradient does not depend on it, only the speed)")
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
                   "--hidden", str(args.hidden), "--epochs", str(args.epochs), "--out", str(out)]
         + (["--quiet"] if args.quiet else [])),
        ("quantize", ["quantize", str(onnx), "-o", str(qmodel), *data, "--chunk", str(args.chunk)]),
        ("generate C and build it with gcc", ["generate", str(qmodel), "-o", str(csrc), "--build"]),
        ("compare C with the emulator: inference", ["verify", str(qmodel), "--task", args.task, *data]),
        ("compare C with the emulator: on-device learning",
         ["verify", str(qmodel), "--task", args.task, *data, "--learn"]),
    ]
    if all(shutil.which(tool) for tool in FIRMWARE_TOOLS):
        fw = out / "firmware-m4"
        plan += [
            ("generate Cortex-M4 firmware", ["generate", str(qmodel), "-o", str(fw), "--target", "cortex-m4"]),
            (f"on the device: learn from {args.learn_sequences} training sequences streamed over the UART in QEMU, "
             "compare with the emulator",
             ["stream", "--firmware", str(fw), "--task", args.task, *data, "--split", "train", "--limit",
              str(args.learn_sequences), "--learn", "--check", "--checkpoint", str(learned_state(args))]
             + (["--quiet"] if args.quiet else [])),
        ]
    return plan


def learned_state(args) -> Path:
    return Path(args.out) / "device-learned.ckpt"


def run(args) -> int:
    import torch

    from .arguments import check_output_dir
    check_output_dir(args.out)
    # The pipeline's networks are small: one torch thread trains them as fast as two on an idle machine (per-step
    # tensors of 32 x 64), and several times faster on a busy one, where two threads wait for each other's core.
    torch.set_num_threads(1)
    plan = steps(args)
    start = time.perf_counter()
    missing = [tool for tool in FIRMWARE_TOOLS if not shutil.which(tool)]
    if missing:
        print(f"note: {', '.join(missing)} not found: the Cortex-M steps are skipped (scripts/setup.sh installs them)")
    trained = None
    for i, (title, argv) in enumerate(plan, 1):
        print(f"\n== [{i}/{len(plan)}] {title}: hypr-edge {' '.join(argv)}", flush=True)
        began = time.perf_counter()
        code, printed = run_step(argv)
        if code:
            print(f"pipeline stopped: step {i} ({title}) failed with exit code {code}")
            return code
        print(f"({time.perf_counter() - began:.1f} s)")
        if argv[0] == "train":
            found = re.findall(r"test accuracy (\d+(?:\.\d+)?)%", printed)
            trained = float(found[-1]) / 100 if found else None
    print(f"\npipeline done in {time.perf_counter() - start:.0f} s: every step passed; artifacts in {args.out}")
    if trained is not None:
        print(f"model: test accuracy {trained:.1%} (float, after training)")
    if any(argv[0] == "stream" for _, argv in plan):
        before, after = device_accuracy(args)
        print(f"device (fixed point, bit-identical to the emulator): test accuracy {before:.1%} before learning "
              f"over the UART, {after:.1%} after {args.learn_sequences} training sequences")
    return 0


def device_accuracy(args) -> tuple[float, float]:
    """Test accuracy of the device's arithmetic with its flashed weights and with the weights it learned (its
    checkpoint), by the emulator, which the learning step has just checked bit for bit against the device; every
    sequence from a zero state, decided as the device decides (readout summed over the loss steps)."""
    from .checkpoint import Checkpoint
    from .fixed.emulator import Emulator
    from .fixed.quantize import QuantizedModel
    from .tasks import load_task
    qm = QuantizedModel.load(Path(args.out) / "model.q.npz")
    ds = load_task(args.task, data=args.data)
    xq, k = qm.quantize_inputs(ds.x_test), ds.loss_steps or ds.steps

    def accuracy(emu) -> float:
        emu.reset_state()
        o = emu.run(xq, keep=("outputs",))["outputs"]
        return float(np.mean(np.asarray(o)[:, -k:].sum(1).argmax(-1) == ds.y_test))
    learned = Checkpoint.load(learned_state(args)).emulator(batch=len(xq), learn=False)
    return accuracy(Emulator(qm, batch=len(xq))), accuracy(learned)


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
