"""The host target: the model library plus the trace harness (templates/hypr_harness.c.j2), compiled with gcc
under UBSan. `hypr-edge generate --build` and `hypr-edge verify` use it."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .render import render_library

HOST_TEMPLATES = ("hypr_harness.c",)   # rendered next to the library
HOST_CC = "gcc"
HOST_CFLAGS = ("-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover")


class HostBuildError(RuntimeError):
    """The host compiler is missing or rejected the generated C."""


def write_host(qm, outdir: str | os.PathLike) -> list[Path]:
    """hypr_model.h, hypr_model.c and hypr_harness.c (reads an input file, writes full traces)."""
    return render_library(qm, outdir, HOST_TEMPLATES)


def build_host(outdir: str | os.PathLike, cflags: tuple[str, ...] | None = None, cc: str | None = None,
               name: str = "hypr_harness") -> Path:
    """gcc -O1 -std=c99 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover hypr_model.c hypr_harness.c"""
    cc = cc or HOST_CC
    if shutil.which(cc) is None:
        raise HostBuildError(f"compiler {cc!r} not found")
    out = Path(outdir)
    exe = out / name
    cmd = [cc, *(cflags if cflags is not None else HOST_CFLAGS), "-o", str(exe),
           str(out / "hypr_model.c"), str(out / "hypr_harness.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostBuildError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return exe

