"""The `hypr-edge generate --target` choices: each Target writes a model's C for one kind of machine.

host        the model library + a trace harness, compiled with gcc (hypr_edge/codegen/build.py)
cortex-m*   a firmware folder for the CPU's boards (hypr_edge/targets/cortex_m.py, boards in boards.py)
spinnaker   one image per SpiNNaker core + a host machine simulator (hypr_edge/spinnaker/)
library     a PlatformIO library and CMake target for the user's own firmware (hypr_edge/targets/library.py)

A new target is one entry in TARGETS: a function writing its files into a new, empty folder. `generate` gives
it a staging folder and moves the files into place (hypr_edge.outputs: nothing of the user's is replaced or
removed, a failed run changes nothing).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..codegen.build import write_host
from ..fixed.quantize import QuantizedModel
from ..outputs import OutputFolder
from ..spinnaker.generate import spinnaker_files
from .boards import CPU_BOARDS
from .cortex_m import generate_firmware
from .library import write_library


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    write: Callable[[QuantizedModel, Path], list[Path]]   # write(qm, new empty folder) -> the files written


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("host", "self-contained library + a harness that reads an input file and writes full traces",
           write_host),
    *(Target(cpu, f"Cortex-{cpu[len('cortex-'):].upper()} firmware folder (make, pio run): {', '.join(boards)}",
             lambda qm, out, cpu=cpu: generate_firmware(qm, out, cpu)) for cpu, boards in CPU_BOARDS.items()),
    Target("spinnaker", "one image per SpiNNaker core (spin1_api) + host simulator",
           lambda qm, out: spinnaker_files(qm, out)[1]),
    Target("library", "a PlatformIO library and CMake target for your own firmware (+ a serial-learning example)",
           write_library),
]}


def generate(qm: QuantizedModel, outdir: str | os.PathLike, target: str = "host", force: bool = False) -> list[Path]:
    """Write the C of `qm` for `target` into outdir; returns the paths written. `force`: also into a folder
    hypr-edge did not write (beside the files there, never over them)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known targets: {', '.join(TARGETS)}")
    qm.check()
    with OutputFolder(outdir, force=force) as folder:
        TARGETS[target].write(qm, folder.staging)
        return folder.commit()
