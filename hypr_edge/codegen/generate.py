"""`hypr-edge generate`: the target registry and the command. Rendering lives in codegen/render.py.

A Target adds its own files to the library every target shares (the host target adds hypr_harness.c).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..fixed.quantize import QuantizedModel, QuantizeError
from .render import LIBRARY_FILES, render_library, template_context  # noqa: F401  (re-exported)


@dataclass
class Target:
    name: str
    extra_templates: tuple[str, ...] = ()          # rendered next to the library, e.g. a harness or main
    cc: str = "gcc"
    cflags: tuple[str, ...] = ()
    description: str = ""
    context: dict = field(default_factory=dict)    # extra template variables
    write: object = None                           # firmware targets: write(qm, outdir, target) -> [paths]


HOST_CFLAGS = ("-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover")
#: name -> Target; open for extension (firmware targets register here).
TARGETS: dict[str, Target] = {
    "host": Target("host", ("hypr_harness.c",), "gcc", HOST_CFLAGS,
                   "self-contained library + a harness that reads an input file and writes full traces"),
}


def _firmware(qm, outdir, target):  # Cortex-M targets: a whole firmware folder (hypr_edge/firmware.py)
    from ..firmware import generate_target
    return generate_target(qm, outdir, target)


TARGETS.update({f"cortex-{c}": Target(f"cortex-{c}", description=f"Cortex-{c.upper()} firmware folder (make, pio run)",
                                      write=_firmware) for c in ("m3", "m4", "m7")})


def _spinnaker(qm, outdir, target):  # multi-core SpiNNaker images + host machine simulator (hypr_edge/spinnaker/)
    from ..spinnaker.generate import generate_spinnaker
    return generate_spinnaker(qm, outdir)[1]


TARGETS["spinnaker"] = Target("spinnaker", description="one image per SpiNNaker core (spin1_api) + host simulator",
                              write=_spinnaker)


def generate(qm: QuantizedModel, outdir: str | os.PathLike, target: str = "host") -> list[Path]:
    if target not in TARGETS:
        raise QuantizeError(f"unknown target {target!r}; known targets: {', '.join(TARGETS)}")
    t = TARGETS[target]
    if t.write is not None:
        return t.write(qm, outdir, target)
    return render_library(qm, outdir, t.extra_templates, t.context)


# ------------------------------------------------------------------------------------------ CLI

def add_arguments(parser) -> None:
    parser.add_argument("model", help="quantized model file (.npz from `hypr-edge quantize`)")
    parser.add_argument("-o", "--out", default="hypr_c", help="output directory (default: hypr_c)")
    parser.add_argument("--target", default="host", help=f"target ({', '.join(TARGETS)}; default host)")
    parser.add_argument("--chunk", type=int, help="override the chunk length lambda")
    parser.add_argument("--learn", choices=("readout", "all"), help="override what learns on the device")
    parser.add_argument("--build", action="store_true", help="also compile with the target's compiler (host only)")
    parser.add_argument("--cores", type=int, help="spinnaker: hidden cores (default: the fewest that fit --core-kb)")
    parser.add_argument("--core-kb", type=float, default=128, help="spinnaker: memory per core in KB (default 128)")


def load_model(args) -> QuantizedModel:
    """The quantized model named on the command line, with its --chunk / --learn overrides applied."""
    qm = QuantizedModel.load(args.model)
    if args.chunk:
        qm.chunk = args.chunk
    if args.learn:
        qm.learn = args.learn
    return qm


def run(args) -> int:
    if args.target == "spinnaker":   # its own partition, builds and per-core report
        from ..spinnaker.generate import run as run_spinnaker
        return run_spinnaker(args)
    from ..cli import CommandError
    from .memory import memory_report
    try:
        qm = load_model(args)
        paths = generate(qm, args.out, args.target)
    except (QuantizeError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    for p in paths:
        print(f"wrote {p}")
    binary = None
    if args.build:
        if args.target != "host":
            raise CommandError("--build compiles host targets only")
        from .build import BuildError, build_host
        try:
            binary = build_host(args.out)
        except BuildError as err:
            raise CommandError(str(err)) from None
        print(f"built {binary}")
    report = memory_report(qm, binary)
    (Path(args.out) / "memory.txt").write_text(report.text() + "\n")
    print(report.text())
    return 0
