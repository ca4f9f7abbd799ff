"""Compile a generated host library + harness with gcc."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .generate import TARGETS


class BuildError(RuntimeError):
    pass


def build_host(outdir: str | os.PathLike, cflags: tuple[str, ...] | None = None, cc: str | None = None,
               name: str = "hypr_harness") -> Path:
    """gcc -O1 -std=c99 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover hypr_model.c hypr_harness.c"""
    t = TARGETS["host"]
    cc = cc or t.cc
    if shutil.which(cc) is None:
        raise BuildError(f"compiler {cc!r} not found")
    out = Path(outdir)
    exe = out / name
    cmd = [cc, *(cflags if cflags is not None else t.cflags), "-o", str(exe),
           str(out / "hypr_model.c"), str(out / "hypr_harness.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return exe


def sources_digest(outdir: str | os.PathLike) -> str:
    h = hashlib.sha1()
    for name in ("hypr_model.h", "hypr_model.c", "hypr_harness.c"):
        h.update((Path(outdir) / name).read_bytes())
    return h.hexdigest()
