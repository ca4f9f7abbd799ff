"""`hypr-edge generate ... --target library` (hypr_edge/targets/library.py): one folder that is a PlatformIO library
and a CMake target. A CMake project of the test's own builds it with its serial-learning example on the host, and
the example's answers over its byte link equal the emulator's, for inference and on-device learning; a PlatformIO
project of the test's own depends on it through `lib_deps = symlink://…`, builds offline for a Cortex-M4 board and,
booted in QEMU, answers the same bytes over its UART."""
from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.cli import main as cli_main
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.targets.registry import generate

EXAMPLE = Path("examples") / "serial_learning"


def model(neuron="lif_zero", seed=0):
    return random_qmodel(np.random.default_rng(seed), neuron, 3, 12, 2, True, 4, "all")


def session(qm, seed=1, steps=23):
    """A byte script for the example and the answers the emulator predicts: an inference pass, a learning pass
    (a partial chunk applied with 'C'), then the inference pass again from a reset state with the learned weights."""
    rng = np.random.default_rng(seed)
    x = qm.quantize_inputs((rng.random((steps, qm.n_in)) < 0.4) * rng.uniform(0.5, 1.0, (steps, qm.n_in)))
    y = rng.integers(-1, qm.n_out, steps)
    emu = Emulator(qm, batch=1, learn=True)
    before = emu.run(x[None], learn=False)["outputs"][0]
    emu.reset_state()
    learning = emu.run(x[None], y[None], learn=True)
    emu.reset_state()
    after = emu.run(x[None], learn=False)["outputs"][0]
    assert learning["weights"] and not np.array_equal(before, after), "the script must make the model learn"

    def step(cmd, xt, label=None):
        return cmd + struct.pack(f"<{qm.n_in}h", *xt) + (b"" if label is None else struct.pack("<h", label))
    script = b"H" + b"".join(step(b"I", xt) for xt in x) + b"R" + b"".join(step(b"L", xt, yt) for xt, yt in zip(x, y)) \
        + b"CR" + b"".join(step(b"I", xt) for xt in x) + b"?"

    def outputs(o):
        return np.asarray(o, "<i4").tobytes()
    answer = b"HYPR" + struct.pack("<I", qm.model_hash()) + outputs(before) + b"R" \
        + outputs(learning["outputs"][0]) + b"CR" + outputs(after) + b"?"
    return script, answer


def test_the_folder_is_a_platformio_library_and_a_cmake_target(tmp_path):
    qm = model()
    generate(qm, tmp_path / "hypr_model", "library")
    lib = tmp_path / "hypr_model"
    manifest = json.loads((lib / "library.json").read_text())
    assert manifest["name"] == "hypr_model" and manifest["build"]["srcDir"] == "src"
    assert f"0x{qm.model_hash():08x}" in manifest["description"]
    assert (lib / "src" / "hypr_model.h").is_file() and (lib / "src" / "hypr" / "neurons" / "lif_zero.h").is_file()
    assert "add_library(hypr_model" in (lib / "CMakeLists.txt").read_text()
    for example in manifest["examples"]:
        assert (lib / example).is_file()


def test_generate_command_writes_it(tmp_path, capsys):
    qm = model()
    qm.save(tmp_path / "m.q.npz")
    assert cli_main(["generate", str(tmp_path / "m.q.npz"), "-o", str(tmp_path / "lib"), "--target", "library"]) == 0
    assert (tmp_path / "lib" / "library.json").is_file() and (tmp_path / "lib" / "CMakeLists.txt").is_file()


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("gcc") is None, reason="needs cmake and gcc")
@pytest.mark.parametrize("neuron,store_states", [("lif_zero", False), ("brf", False), ("brf", True)])
def test_cmake_project_builds_it_and_answers_like_the_emulator(tmp_path, neuron, store_states):
    """Also with the library's CMake option HYPR_STORE_STATES (the same answers)."""
    qm = model(neuron)
    generate(qm, tmp_path / "hypr_model", "library")
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        "add_subdirectory(hypr_model)\n"
        f"add_executable(app hypr_model/{EXAMPLE.as_posix()}/main.c hypr_model/{EXAMPLE.as_posix()}/port_stdio.c)\n"
        "target_link_libraries(app PRIVATE hypr_model)\n")
    flags = "-O1 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover"
    configure = ["cmake", "-S", ".", "-B", "build", f"-DCMAKE_C_FLAGS={flags}",
                 f"-DHYPR_STORE_STATES={'ON' if store_states else 'OFF'}"]
    for cmd in (configure, ["cmake", "--build", "build"]):
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    script, answer = session(qm)
    r = subprocess.run([str(tmp_path / "build" / "app")], input=script, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout == answer


# ---------------------------------------------------------------- PlatformIO, Cortex-M4, QEMU

PIO_BOARD = "mps2-an386"
PORT_C = """/* the example's byte link on this test's board: hypr-edge's firmware/src UART driver */
#include "board.h"
void port_init(void) { board_init(); }
int port_read(void) { return uart_getc(); }
void port_write(const uint8_t *p, unsigned n) { uart_write(p, n); }
"""


def pio_project(tmp_path, qm) -> Path:
    """A project of the test's own: the library's example as its program, the board support of a hypr-edge
    firmware folder (startup, UART driver, linker script, board manifest), the library through lib_deps."""
    from hypr_edge.targets import cortex_m
    from hypr_edge.targets.boards import BOARDS

    lib = tmp_path / "hypr_model"
    generate(qm, lib, "library")
    fw = cortex_m.write_firmware(tmp_path / "fw", target="cortex-m4", board=PIO_BOARD, qmodel=qm)
    board = BOARDS[PIO_BOARD]
    proj = tmp_path / "app"
    (proj / "src").mkdir(parents=True)
    shutil.copy(lib / EXAMPLE / "main.c", proj / "src" / "main.c")
    for name in ("startup.c", "board.h", board.uart):
        shutil.copy(fw / "runtime" / name, proj / "src" / name)
    (proj / "src" / "port.c").write_text(PORT_C)
    (proj / "platformio.ini").write_text("\n".join([
        "[platformio]", f"boards_dir = {fw / 'boards'}", "",
        f"[env:{PIO_BOARD}]", f"platform = symlink://{cortex_m.LOCAL_PLATFORM}",
        f"board = {cortex_m.pio_board_id(board)}",
        f"board_build.ldscript = {fw / 'runtime' / 'ld' / board.ldscript}",
        f"build_flags = -std=c99 -O2 -Wall -Wextra -Werror -L{fw / 'runtime' / 'ld'}"
        f" {' '.join(board.cflags_defines())}",
        f"lib_deps = symlink://{lib}", ""]))
    return proj


def read_exactly(sock, n, timeout=30.0) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while len(data) < n and time.monotonic() < deadline:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.skipif(shutil.which("pio") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs platformio and arm-none-eabi-gcc")
def test_platformio_project_builds_it_offline_and_it_learns_in_qemu(tmp_path):
    from hypr_edge.qemu import QemuSession

    qm = model()
    proj = pio_project(tmp_path, qm)
    setup = Path(__file__).parents[1] / "firmware" / "platformio" / "setup_offline.py"
    subprocess.run(["python3", str(setup)], check=True, capture_output=True)
    # Any download attempt fails fast through a dead proxy: the build must not need one.
    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No", "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "9999"}
    r = subprocess.run(["pio", "run", "-d", str(proj)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hypr_model" in r.stdout and "SUCCESS" in r.stdout
    elf = proj / ".pio" / "build" / PIO_BOARD / "firmware.elf"
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("built; running it needs qemu-system-arm")
    script, answer = session(qm)
    with QemuSession(elf, PIO_BOARD) as q:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", q.port), timeout=1.0)
                break
            except OSError:
                assert time.monotonic() < deadline, "QEMU did not open its UART port"
                time.sleep(0.05)
        with sock:
            sock.settimeout(30.0)
            sock.sendall(script)
            got = read_exactly(sock, len(answer))
    assert got == answer
