"""The `hypr-edge` command. Each sub-command lives in the module that does the work and exposes
`add_arguments(parser)` and `run(args) -> int`; modules are imported only when their command runs,
so `hypr-edge --help` stays fast."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). A module listed here must exist.
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline": ("hypr_edge.pipeline", "the main job end to end: train, quantize, generate, build, run, compare"),
    "run": ("hypr_edge.run", "boot a firmware build in QEMU with its UART on a local TCP port"),
    "stream": ("hypr_edge.stream", "stream a data set to a board over the board protocol (infer or learn), --check"),
    "train": ("hypr_edge.train", "train an RSNN with BPTT or HYPR and write model.onnx, metrics and a plot"),
    "adapt": ("hypr_edge.adapt", "spoken digits: pretrain on 5 speakers, learn on-device on the 6th, before/after"),
    "quantize": ("hypr_edge.fixed.quantize", "choose fixed-point formats and write a quantized model file"),
    "generate": ("hypr_edge.codegen.generate", "write the C library (and host harness) of a quantized model"),
    "verify": ("hypr_edge.codegen.verify", "run emulator and compiled C on the same inputs and compare bit for bit"),
}


class CommandError(Exception):
    """A user error: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hypr-edge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # Parse the command name first, then let its module add its own arguments.
    known, _ = parser.parse_known_args(argv[:1] if argv and not argv[0].startswith("-") else argv)
    module = importlib.import_module(COMMANDS[known.command][0])
    full = argparse.ArgumentParser(prog=f"hypr-edge {known.command}", description=COMMANDS[known.command][1])
    module.add_arguments(full)
    args = full.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except CommandError as err:
        print(f"hypr-edge {known.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())  # prefer `python -m hypr_edge`: run as __main__, this module's CommandError is a copy
