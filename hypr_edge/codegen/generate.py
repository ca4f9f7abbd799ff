"""Render the generated C library (templates/*.j2) for a QuantizedModel, and `hypr-edge generate`.

`render_library(qm, outdir)` writes hypr_model.h/.c, the part every target shares; a Target adds its own files
(the host target adds hypr_harness.c). The firmware adds Cortex-M targets to TARGETS.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__
from ..fixed import spec as fs
from ..fixed.quantize import NEURON_CONSTS, SCALAR_CONSTS, QuantizedModel, QuantizeError
from ..network_spec import STATE_NAMES

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"
LIBRARY_FILES = ("hypr_model.h", "hypr_model.c")


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


def _cformat(values, per_line: int = 12) -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    if not vals:
        return "0"
    return ",\n".join("    " + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False)
    env.filters["cformat"] = _cformat
    return env


def template_context(qm: QuantizedModel) -> dict:
    qm.check()
    return dict(
        version=__version__, neuron=qm.neuron, n_in=qm.n_in, n_hidden=qm.n_hidden, n_out=qm.n_out,
        chunk=qm.chunk, d=qm.d, m=qm.m, recurrent=qm.recurrent, learn_hidden=qm.learn == "all",
        state_names=STATE_NAMES[qm.neuron], model_hash=qm.model_hash(), formats=qm.formats,
        FA=fs.FA, FQ=fs.FQ, FEO=fs.FEO, A_MAX=fs.A_MAX, G_MAX=fs.G_MAX, G1_MAX=fs.G1_MAX, LUT_BITS=fs.LUT_BITS,
        psi_shift=qm.psi_shift, LOG2E_Q=fs.LOG2E_Q, lr_mant=qm.lr_mant, shifts=qm.shifts(), seed=qm.seed,
        psi_lut=qm.psi_table, exp2_lut=qm.exp2_table, w=qm.w, wo=qm.wo,
        kconsts={n: qm.k[n] for n in NEURON_CONSTS[qm.neuron]}, kao=[int(v) for v in qm.kao],
        kbo=[int(v) for v in qm.kbo], scalars={n: int(qm.scalars[n]) for n in SCALAR_CONSTS[qm.neuron]})


def render_library(qm: QuantizedModel, outdir: str | os.PathLike, extra: tuple[str, ...] = (),
                   context: dict | None = None) -> list[Path]:
    """Write hypr_model.h, hypr_model.c (and `extra` templates) into outdir; returns the paths."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    env, ctx = _env(), {**template_context(qm), **(context or {})}
    paths = []
    for name in (*LIBRARY_FILES, *extra):
        path = out / name
        path.write_text(env.get_template(name + ".j2").render(**ctx))
        paths.append(path)
    return paths


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
