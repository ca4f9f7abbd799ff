"""Render the generated C library for a QuantizedModel: the model's data and configuration (templates/*.j2) next to
a copy of the hand-written kernels (firmware/hypr/), which the generated hypr_model.c #includes.

`render_library(qm, outdir)` writes hypr_model.h, hypr_model.c and hypr/ (the kernels), the part every target
shares. The templates only ever receive integers formatted here and names checked here.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__
from ..fixed import spec as fs
from ..fixed.qmodel import check_eligibility_bits
from ..fixed.quantize import QuantizedModel, QuantizeError
from ..fixed.learning_state import image_size
from ..neurons import MODELS
from ..resources import firmware_dir, templates_dir

LIBRARY_FILES = ("hypr_model.h", "hypr_model.c")
KERNEL_DIR = "hypr"   # firmware/hypr/, copied to <out>/hypr/ beside the generated files

#: the model-independent constants of docs/fixed-point.md that the C kernels use: name, value, meaning.
#: firmware/hypr/hypr_spec.h is written from this table (spec_header) and checked against it by a test.
SPEC_CONSTANTS = (
    ("FA", fs.FA, "constants, Jacobian entries, psi, g, Phi: Q8.24 in int32"),
    ("FQ", fs.FQ, "learning signals eps, L, q and chunk gradients: Q.20"),
    ("FEO", fs.FEO, "readout eligibilities: int16 Q1.14"),
    ("A_MAX", fs.A_MAX, "|A|, |g| saturate here"),
    ("G_MAX", fs.G_MAX, "the chunk gradient saturates here"),
    ("G1_MAX", fs.G1_MAX, "sum_t q x >> fx saturates here before the product with c0"),
    ("LUT_BITS", fs.LUT_BITS, "2^LUT_BITS linear segments in every lookup table"),
    ("LOG2E_Q", fs.LOG2E_Q, "log2(e) in Q.FA"),
    ("XORSHIFT_DEFAULT_SEED", fs.XORSHIFT_DEFAULT_SEED, "the PRNG seed of a model that names none"),
)
_SUFFIX = {"LUT_BITS": "", "FA": "", "FQ": "", "FEO": "", "XORSHIFT_DEFAULT_SEED": "u"}


def spec_header() -> str:
    """The text of firmware/hypr/hypr_spec.h."""
    width = max(len(n) for n, _, _ in SPEC_CONSTANTS)
    lines = ["/* Generated from hypr_edge/fixed/spec.py by hypr_edge.codegen.render.spec_header(): do not edit. After",
             " * a change there: python -c 'import hypr_edge.codegen.render as r; print(r.spec_header(), end=\"\")' \\",
             " *     > firmware/hypr/hypr_spec.h",
             " * The model-independent constants of docs/fixed-point.md (§2, §5, §6, §7). */",
             "#ifndef HYPR_SPEC_H", "#define HYPR_SPEC_H", ""]
    for name, value, meaning in SPEC_CONSTANTS:
        literal = f"0x{value:08x}u" if name == "XORSHIFT_DEFAULT_SEED" else f"{int(value)}{_SUFFIX.get(name, 'LL')}"
        lines.append(f"#define {name:<{width}} {literal:<22} /* {meaning} */")
    lines += ["", "#endif", ""]
    return "\n".join(lines)


def kernel_dir() -> Path:
    """The hand-written C kernels (firmware/hypr/)."""
    return firmware_dir() / KERNEL_DIR


def neuron_kernel(neuron: str) -> str:
    """The kernel header of a neuron model, relative to hypr/: neurons/<name>.h (the name checked, the file there)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", neuron) or neuron not in MODELS:
        raise QuantizeError(f"unknown neuron model {neuron!r}; known: {', '.join(MODELS)}")
    rel = f"neurons/{neuron}.h"
    if not (kernel_dir() / rel).is_file():
        raise QuantizeError(f"neuron model {neuron!r} has no C kernel: {kernel_dir() / rel} is missing")
    return rel


def copy_kernels(outdir: str | os.PathLike) -> list[Path]:
    """Copy firmware/hypr/ (C sources only) to <outdir>/hypr/; returns the copied files. Nothing there is removed
    (the targets write into a new folder: hypr_edge.outputs)."""
    src, dst = kernel_dir(), Path(outdir) / KERNEL_DIR
    shutil.copytree(src, dst, dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names if not (n.endswith(".h") or (Path(d) / n).is_dir())])
    return sorted(p for p in dst.rglob("*.h"))


#: the C type of the hidden eligibilities (elig_t) for each storage width of docs/fixed-point.md §2.1
ELIG_CTYPES = {16: "int16_t", 8: "int8_t"}


def elig_context(qm: QuantizedModel) -> dict:
    """The hidden eligibilities' storage: bits and C type, from a fixed table (the model's field checked first)."""
    bits = check_eligibility_bits(qm.eligibility_bits)
    lo, hi = fs.elig_bounds(bits)
    return {"bits": bits, "ctype": ELIG_CTYPES[bits], "min": int(lo), "max": int(hi)}


def _cformat(values, per_line: int = 12) -> str:
    vals = [str(v) for v in _ints(values)]
    if not vals:
        return "0"
    return ",\n".join("    " + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False)
    env.filters["cformat"] = _cformat
    return env


def _ints(values) -> list[int]:
    """Integers only: a float, bool, string or object array is a bug upstream, never something to print as C."""
    a = np.asarray(values)
    if a.dtype.kind not in "iu":
        raise TypeError(f"code generation takes integer arrays, got {a.dtype}")
    return [int(v) for v in a.ravel()]


#: text the templates may print (in comments and #include names): registry names, versions, route notes
SAFE_TEXT = re.compile(r"[A-Za-z0-9_.,+/ ()>-]*")


def check_context(ctx) -> None:
    """Every value a template receives: a Python int or bool, an integer array, text from SAFE_TEXT (names from
    the registry, no quote, newline or comment end), or lists, tuples and dicts of these. Anything else is a bug
    upstream (a string from a file would be one): refused before a line of C is written."""
    def walk(v, where):
        if isinstance(v, (bool, int)):
            return
        if isinstance(v, str):
            if not SAFE_TEXT.fullmatch(v) or len(v) > 200:
                raise TypeError(f"code generation: {where} holds text that is not a checked name: {v[:40]!r}")
        elif isinstance(v, np.ndarray):
            if v.dtype.kind not in "iu":
                raise TypeError(f"code generation: {where} is a {v.dtype} array, not integers")
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                walk(item, f"{where}[{i}]")
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(k, f"{where} key")
                walk(item, f"{where}[{k!r}]")
        else:
            raise TypeError(f"code generation: {where} is a {type(v).__name__}, not an integer or a checked name")
    for key, value in ctx.items():
        walk(value, key)


def template_context(qm: QuantizedModel) -> dict:
    """Everything the templates emit: integers (and integer arrays) converted here, names checked here."""
    qm.check()
    f, sh, model = qm.formats, qm.shifts(), MODELS[qm.neuron]
    return dict(
        version=__version__, neuron=qm.neuron, neuron_kernel=neuron_kernel(qm.neuron),
        state_names=list(model.state_names), n_in=int(qm.n_in), n_hidden=int(qm.n_hidden), n_out=int(qm.n_out),
        chunk=int(qm.chunk), d=int(qm.d), m=int(qm.m), recurrent=bool(qm.recurrent), learn_hidden=qm.learn == "all",
        model_hash=int(qm.model_hash()),
        state_bytes=int(image_size(qm)),
        formats={k: int(f[k]) for k in ("fx", "fw", "fwo", "fs", "fe")}, elig=elig_context(qm),
        psi_shift=int(qm.psi_shift), lr_mant=int(qm.lr_mant), seed=int(qm.seed),
        shifts={"hidden": int(sh["hidden"]), "readout": int(sh["readout"])},
        psi_lut=_ints(qm.psi_table), exp2_lut=_ints(qm.exp2_table), w=_ints(qm.w), wo=_ints(qm.wo),
        kconsts={n: _ints(qm.k[n]) for n in model.fixed_consts}, kao=_ints(qm.kao), kbo=_ints(qm.kbo),
        scalars={n: int(qm.scalars[n]) for n in model.fixed_scalars})


def render_library(qm: QuantizedModel, outdir: str | os.PathLike, extra: tuple[str, ...] = (),
                   context: dict | None = None) -> list[Path]:
    """Write hypr_model.h, hypr_model.c (and `extra` templates) and the kernels (hypr/) into outdir; returns the
    paths."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    env, ctx = _env(), {**template_context(qm), **(context or {})}
    check_context(ctx)
    paths = []
    for name in (*LIBRARY_FILES, *extra):
        path = out / name
        path.write_text(env.get_template(name + ".j2").render(**ctx))
        paths.append(path)
    return paths + copy_kernels(out)
