"""Render the generated C library (templates/*.j2) for a QuantizedModel: the model's data and configuration.

`render_library(qm, outdir)` writes hypr_model.h/.c, the part every target shares.
"""
from __future__ import annotations

import os
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__
from ..fixed import spec as fs
from ..fixed.quantize import NEURON_CONSTS, SCALAR_CONSTS, QuantizedModel
from ..network_spec import STATE_NAMES
from ..resources import templates_dir

LIBRARY_FILES = ("hypr_model.h", "hypr_model.c")


def _cformat(values, per_line: int = 12) -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    if not vals:
        return "0"
    return ",\n".join("    " + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), undefined=jinja2.StrictUndefined,
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


