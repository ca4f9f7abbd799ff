"""The `library` target: a model as a library for the user's own firmware project. The folder is at once

  a PlatformIO library   library.json, src/ (hypr_model.h, hypr_model.c, hypr/ kernels), examples/serial_learning
                         (the model learns from samples arriving over a serial port); `lib_deps = symlink://DIR`
                         or a copy in the project's lib/
  a CMake target         CMakeLists.txt: add_subdirectory(DIR) then target_link_libraries(app PRIVATE hypr_model)

The model's C comes from hypr_edge.codegen.render like every target's; the CMakeLists.txt and the example are
hand-written, model-independent files in firmware/library/ (docs/interop.md).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import __version__
from ..codegen.render import render_library
from ..fixed.qmodel import QuantizedModel
from ..resources import firmware_dir

LIBRARY_NAME = "hypr_model"          # the CMake target and the PlatformIO library name
EXAMPLE = "examples/serial_learning"


def library_manifest(qm: QuantizedModel) -> dict:
    """library.json: a PlatformIO library of plain C for any platform and framework, sources and headers in src/."""
    return {
        "name": LIBRARY_NAME,
        "version": __version__,
        "description": f"hypr-edge {qm.neuron} network {qm.n_in}-{qm.n_hidden}-{qm.n_out} in fixed point, with "
                       f"on-device HYPR learning (chunk {qm.chunk}, learning: {qm.learn}); model hash "
                       f"0x{qm.model_hash():08x}",
        "keywords": ["spiking neural network", "on-device learning", "hypr-edge"],
        "frameworks": "*",
        "platforms": "*",
        "headers": ["hypr_model.h"],
        "build": {"srcDir": "src", "includeDir": "src", "flags": ["-std=c99"]},
        "examples": [f"{EXAMPLE}/main.c"],
    }


def write_library(qm: QuantizedModel, outdir: str | Path) -> list[Path]:
    """Write the library folder; returns the files written."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = render_library(qm, out / "src")
    manifest = out / "library.json"
    manifest.write_text(json.dumps(library_manifest(qm), indent=2) + "\n")
    paths.append(manifest)
    static = firmware_dir() / "library"
    for src in sorted(p for p in static.rglob("*") if p.is_file()):
        dst = out / src.relative_to(static)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        paths.append(dst)
    return paths
