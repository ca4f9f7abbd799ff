"""Command-line argument checks shared by the commands: argparse `type=` functions that refuse a bad value at
parse time (so no work starts on it), and checks of output paths made before a command computes anything.

A type function raises argparse.ArgumentTypeError with a message starting "must ..."; `hypr-edge` prints it as
one line, "OPTION must ..., got VALUE" (hypr_edge/cli.py)."""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import CommandError

UINT32_MAX = 0xFFFFFFFF


def _parse_int(text: str, base: int) -> int:
    try:
        return int(text, base)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def int_in(lo: int | None = None, hi: int | None = None, base: int = 10) -> Callable[[str], int]:
    """An integer in lo..hi (either bound may be open-ended). base=0 also reads 0x.. and 0b.."""
    def parse(text: str) -> int:
        v = _parse_int(text, base)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            if hi is None:
                raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
            if lo is None:
                raise argparse.ArgumentTypeError(f"must be <= {hi}, got {v}")
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {v}")
        return v
    parse.__name__ = "integer"   # argparse names the type in its own messages
    return parse


def float_in(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
             hi_open: bool = False) -> Callable[[str], float]:
    """A finite float (never NaN or ±Inf) within the bounds; lo_open/hi_open exclude the bound itself."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        low_ok = lo is None or (v > lo if lo_open else v >= lo)
        high_ok = hi is None or (v < hi if hi_open else v <= hi)
        if not (low_ok and high_ok):
            left = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
            right = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
            raise argparse.ArgumentTypeError(f"must be {' and '.join(s for s in (left, right) if s)}, got {text}")
        return v
    parse.__name__ = "number"
    return parse


positive_int = int_in(1)
non_negative_int = int_in(0)
positive_float = float_in(0.0, lo_open=True)
finite_float = float_in()
tcp_port = int_in(1, 65535)
seed32 = int_in(0, UINT32_MAX, base=0)      # seeds are uint32 on the device; 0x.. accepted


# ---- output paths: refused before any work, so a run that cannot save its results does not start

def _existing_ancestor(path: Path) -> Path:
    """The nearest part of `path` (itself or a parent) that exists; refuses a file where a folder must be."""
    p = path
    while not (p.exists() or p.is_symlink()):
        if p.parent == p:
            break
        p = p.parent
    if p != path and not p.is_dir():
        raise CommandError(f"{path}: cannot create it, {p} is a file, not a folder")
    return p


def _probe_writable(folder: Path, path: Path) -> None:
    """Create (and drop) an unnamed temporary file in `folder`: the only test that also holds for root and for
    read-only file systems. On Linux (O_TMPFILE) no name ever appears in the folder."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise CommandError(f"{path}: cannot write in {folder} ({err.strerror or err})") from None


def check_output_dir(path: str | os.PathLike) -> Path:
    """A folder the command will create or write into: not a file, not under a file, writable."""
    p = Path(path)
    if (p.exists() or p.is_symlink()) and not p.is_dir():
        raise CommandError(f"{p}: exists and is not a folder")
    _probe_writable(_existing_ancestor(p), p)
    return p


def check_output_file(path: str | os.PathLike, inputs: tuple = ()) -> Path:
    """A file the command will write: not a folder, not one of the command's `inputs`, in a folder that exists
    or can be created, writable."""
    p = Path(path)
    for given in inputs:
        if given is not None and p.exists() and Path(given).exists() and p.resolve() == Path(given).resolve():
            raise CommandError(f"{p}: is the input file too; writing it would destroy the input")
    if p.is_dir():
        raise CommandError(f"{p}: is a folder, expected a file name")
    if p.name in ("", ".", ".."):
        raise CommandError(f"{path}: expected a file name")
    if p.exists():
        try:
            with open(p, "r+b"):
                pass
        except OSError as err:
            raise CommandError(f"{p}: cannot write it ({err.strerror or err})") from None
    parent = p.parent
    if (parent.exists() or parent.is_symlink()) and not parent.is_dir():
        raise CommandError(f"{p}: cannot create it, {parent} is a file, not a folder")
    _probe_writable(_existing_ancestor(parent), p)
    return p
