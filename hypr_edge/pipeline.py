"""`hypr-edge pipeline`: the main job end to end, by running the other commands in order:
train -> quantize -> generate C -> build -> run C and emulator -> compare (inference and on-device learning),
then the same on a Cortex-M board in QEMU when the firmware tools are installed."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from .cli import main

FIRMWARE_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


def add_arguments(p) -> None:
    from .arguments import int_in, positive_int
    from .fixed.qmodel import MAX_CHUNK
    p.add_argument("--task", default="digits", help="built-in task (default digits)")
    p.add_argument("--data", help="data path, for tasks read from files")
    p.add_argument("--neuron", default="brf", help="neuron model (default brf)")
    p.add_argument("--hidden", default="32", help="hidden size (default 32)")
    p.add_argument("--epochs", type=positive_int, default=3, help="training epochs (default 3)")
    p.add_argument("--chunk", type=int_in(1, MAX_CHUNK), default=16, help="HYPR chunk length, in training and on the device")
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
        fw = out / "firmware-m4"
        plan += [
            ("generate Cortex-M4 firmware", ["generate", str(qmodel), "-o", str(fw), "--target", "cortex-m4"]),
            ("stream the test set to QEMU, learn on-device, compare with the emulator",
             ["stream", "--firmware", str(fw), "--task", args.task, *data, "--learn", "--check"]),
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
    for i, (title, argv) in enumerate(plan, 1):
        print(f"\n== [{i}/{len(plan)}] {title}: hypr-edge {' '.join(argv)}", flush=True)
        code = main(argv)
        if code:
            print(f"pipeline stopped: step {i} ({title}) failed with exit code {code}")
            return code
    print(f"\npipeline done in {time.perf_counter() - start:.0f} s: every step passed; artifacts in {args.out}")
    return 0
