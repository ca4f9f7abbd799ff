"""The `hypr-edge` command. Each sub-command lives in the module that does the work and exposes
`add_arguments(parser)` and `run(args) -> int`; modules are imported only when their command runs,
so `hypr-edge --help` stays fast.

Every failure a user can cause or meet (bad argument, bad file, bad data, missing tool, device gone, port busy,
interrupted) ends as one line on stderr and a non-zero status, never a traceback; `--debug` (anywhere on the
command line) shows the traceback instead. Exit codes (docs/reliability.md): 0 success, 1 a check found a
difference, 2 an error, 70 an internal error (a bug: please report it with --debug), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM, SIGHUP)."""
from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import threading
from contextlib import contextmanager

from .errors import CommandError, Terminated

# name -> (module, one-line help). A module listed here must exist.
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline": ("hypr_edge.pipeline", "the main job end to end: train, quantize, generate, build, run, compare"),
    "run": ("hypr_edge.run", "boot a firmware build in QEMU with its UART on a local TCP port"),
    "stream": ("hypr_edge.stream", "stream a data set to a board over the board protocol (infer or learn), --check"),
    "train": ("hypr_edge.train", "train an RSNN with BPTT or HYPR and write model.onnx, metrics and a plot"),
    "adapt": ("hypr_edge.adapt", "spoken digits: pretrain on 5 speakers, learn on-device on the 6th, before/after"),
    "quantize": ("hypr_edge.fixed.quantize", "choose fixed-point formats and write a quantized model file"),
    "generate": ("hypr_edge.generate", "write the C library (and host harness) of a quantized model"),
    "verify": ("hypr_edge.codegen.verify", "run emulator and compiled C on the same inputs and compare bit for bit"),
    "import": ("hypr_edge.import_command", "read a NIR graph (snnTorch, Norse, ...) and write model.onnx"),
    "export": ("hypr_edge.export_command", "write a model.onnx as a NIR graph for other tools (--nir)"),
    "harvest": ("hypr_edge.harvest", "write what a device learned (a checkpoint) as a model file, --onnx too"),
}

# The package's own errors: each carries a message written for the user, printed as it is. Named, not imported,
# so that a command imports only what it uses; tests/test_bad_inputs.py checks that every name resolves.
EXPECTED_ERRORS = (
    "hypr_edge.fixed.qmodel.QuantizeError",
    "hypr_edge.onnx_io.OnnxFormatError",
    "hypr_edge.nir_io.NirError",
    "hypr_edge.network_spec.SpecError",
    "hypr_edge.train.TrainingDiverged",
    "hypr_edge.gradient_methods.GradientInputError",
    "hypr_edge.train_checkpoint.CheckpointError",
    "hypr_edge.checkpoint.CheckpointError",
    "hypr_edge.fixed.learning_state.StateError",
    "hypr_edge.codegen.build.HostBuildError",
    "hypr_edge.targets.cortex_m.FirmwareBuildError",
    "hypr_edge.spinnaker.partition.PartitionError",
    "hypr_edge.spinnaker.generate.SpinnakerError",
    "hypr_edge.qemu.QemuError",
    "hypr_edge.host.client.ProtocolError",
    "hypr_edge.host.client.BoardError",
    "hypr_edge.resources.ResourceError",
)

EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 70, 130, 143


class ArgumentsRefused(Exception):
    """argparse found a bad command line (raised by Parser.error instead of printing usage and exiting)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line: "--lr must be a finite number, got nan"."""

    def error(self, message: str):
        # "argument --lr: must be ..." (our type functions, hypr_edge/arguments.py) reads better as "--lr must ..."
        raise ArgumentsRefused(re.sub(r"^argument ([^:]+): (must .*)$", r"\1 \2", message, flags=re.S))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hypr-edge", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (any position)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def expected_error_types() -> tuple[type, ...]:
    """The classes of EXPECTED_ERRORS whose modules are loaded (an error cannot come from a module never imported)."""
    found = []
    for path in EXPECTED_ERRORS:
        module, name = path.rsplit(".", 1)
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def one_line(text: str) -> str:
    """A message on one line (compiler output, QEMU's stderr and the like can span several)."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip()) or "(no message)"


def describe(err: BaseException) -> tuple[str, int]:
    """(message, exit code) for an exception that reached the command line."""
    if isinstance(err, (CommandError, ArgumentsRefused)) or isinstance(err, expected_error_types()):
        return str(err), EXIT_ERROR
    if isinstance(err, Terminated):
        return f"terminated ({err})" if str(err) else "terminated", EXIT_TERMINATED
    if isinstance(err, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(err, MemoryError):
        return f"out of memory ({err})" if str(err) else "out of memory", EXIT_ERROR
    if isinstance(err, OSError):   # a file, folder, device or tool the system refused
        what = err.strerror or str(err)
        names = [n for n in (err.filename, err.filename2) if n is not None]
        return (f"{' -> '.join(map(str, names))}: {what}" if names else what), EXIT_ERROR
    return (f"internal error: {type(err).__name__}: {err} (a bug in hypr-edge: run again with --debug for the "
            f"traceback and report it)"), EXIT_INTERNAL


@contextmanager
def stop_signals_unwind():
    """SIGTERM / SIGHUP raise Terminated in the main thread, so cleanup code runs (QEMU stops, temporary files go).
    The handler is one-shot: a second signal kills at once (child processes die with us: hypr_edge/qemu.py)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]

    def handler(signum, _frame):
        signal.signal(signum, signal.SIG_DFL)
        raise Terminated(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def split_debug(argv: list[str]) -> tuple[bool, list[str]]:
    """--debug may stand anywhere before a `--`; it is taken out before the command's own parser sees argv."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = argv[:end]
    return "--debug" in head, [a for a in head if a != "--debug"] + argv[end:]


def parse(argv: list[str]) -> tuple[str, object, argparse.Namespace]:
    """(command name, its module, its parsed arguments)."""
    parser = build_parser()
    # Parse the command name first, then let its module add its own arguments.
    known, _ = parser.parse_known_args(argv[:1] if argv and not argv[0].startswith("-") else argv)
    module = importlib.import_module(COMMANDS[known.command][0])
    full = Parser(prog=f"hypr-edge {known.command}", description=COMMANDS[known.command][1])
    full.add_argument("--debug", action="store_true", help="show the traceback of an error")
    module.add_arguments(full)
    return known.command, module, full.parse_args(argv[1:])


def main(argv: list[str] | None = None) -> int:
    debug, argv = split_debug(list(sys.argv[1:] if argv is None else argv))
    name = f"hypr-edge {argv[0]}" if argv and argv[0] in COMMANDS else "hypr-edge"
    try:
        with stop_signals_unwind():
            try:
                _command, module, args = parse(argv)
            except SystemExit as done:   # --help
                return int(done.code or 0)
            return int(module.run(args) or 0)
    except BaseException as err:   # noqa: B902  (the one place that turns every failure into one line)
        if isinstance(err, SystemExit):
            raise
        if debug:
            raise
        message, code = describe(err)
        print(f"{name}: error: {one_line(message)}", file=sys.stderr, flush=True)
        return code


if __name__ == "__main__":
    sys.exit(main())
