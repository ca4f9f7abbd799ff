"""The host C learning-state harness (tests/fixtures/state_harness.c) over a generated model library: it reads a
script of operations (learn step, inference step, end of chunk, read/load/stream the state image) and writes the
results, so the tests can compare the C's whole learning state with the emulator's, byte for byte."""
from __future__ import annotations

import subprocess
from pathlib import Path

from hypr_edge.codegen.render import render_library

FIXTURES = Path(__file__).parent / "fixtures"
CFLAGS = ["-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover"]


def build(qm, d: Path, defines: tuple[str, ...] = ()) -> Path:
    """The harness compiled for qm in folder d (UBSan, no recovery); defines: e.g. ("HYPR_STORE_STATES=1",)."""
    render_library(qm, d)
    exe = d / "state_harness"
    subprocess.run(["gcc", *CFLAGS, *(f"-D{x}" for x in defines), f"-I{d}", "-o", str(exe), str(d / "hypr_model.c"),
                    str(FIXTURES / "state_harness.c")], check=True)
    return exe


def run_script(exe: Path, script: bytes, d: Path) -> bytes:
    """Runs the operations `script` (without its magic) and returns what the harness wrote."""
    (d / "script").write_bytes(b"HYS1" + script)
    subprocess.run([str(exe), str(d / "script"), str(d / "out")], check=True)
    return (d / "out").read_bytes()
