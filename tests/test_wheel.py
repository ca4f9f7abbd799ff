"""The package installs and works outside the checkout: `python -m build` makes an sdist and, from it, a wheel;
the wheel goes into a fresh venv (system site-packages for torch and the other dependencies, `--no-deps
--no-index` so nothing is downloaded); from an unrelated folder, that venv's `hypr-edge` generates and builds C
for the host, a Cortex-M firmware and SpiNNaker cores with the templates/ and firmware/ the wheel carries.

One build and install per session (module fixture); the tests below spawn processes because the installed
command is what they test.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "fixtures" / "regression" / "case00_lif_inference.q.npz"
# never copied into the build: VCS data, caches and build outputs of the checkout
IGNORE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                "runs", "out", ".pio", "*.o", "*.elf")


def run(cmd, cwd, timeout=300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, \
        f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with the wheel built from a copy of the checkout; returns the venv folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv = tmp / "src", tmp / "dist", tmp / "venv"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src], cwd=tmp)
    wheels = list(dist.glob("hypr_edge-*.whl"))
    assert len(wheels) == 1 and list(dist.glob("hypr_edge-*.tar.gz"))
    # The venv gets no pip of its own (ensurepip takes longer than the rest): this pip installs into it.
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], cwd=tmp)
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", "--no-index",
         wheels[0]], cwd=tmp)
    return venv


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """An unrelated working folder holding a quantized model file."""
    shutil.copy(MODEL, tmp_path / "m.q.npz")
    return tmp_path


def test_imports_come_from_the_venv(venv, elsewhere):
    code = ("import hypr_edge, hypr_edge.host.client as c, hypr_edge.resources as r\n"
            "print(hypr_edge.__file__, c.__file__, r.templates_dir(), r.firmware_dir(), sep='\\n')")
    paths = run([venv / "bin" / "python", "-c", code], cwd=elsewhere).stdout.split()
    site = str(next((venv / "lib").glob("python3*")) / "site-packages" / "hypr_edge")
    assert paths == [f"{site}/__init__.py", f"{site}/host/client.py", f"{site}/templates", f"{site}/firmware"]


def test_generate_and_build_host(venv, elsewhere):
    out = run([venv / "bin" / "hypr-edge", "generate", "m.q.npz", "-o", "c", "--build"], cwd=elsewhere).stdout
    assert "built" in out and (elsewhere / "c" / "hypr_harness").is_file()
    out = run([venv / "bin" / "hypr-edge", "verify", "m.q.npz", "--streams", "2", "--steps", "30"],
              cwd=elsewhere).stdout
    assert out.startswith("equal: 2 streams")


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_cortex_m4_firmware(venv, elsewhere):
    run([venv / "bin" / "hypr-edge", "generate", "m.q.npz", "-o", "fw", "--target", "cortex-m4"], cwd=elsewhere)
    run(["make", "-s", "-j2", "-C", "fw"], cwd=elsewhere)
    assert (elsewhere / "fw" / "build" / "mps2-an386" / "firmware.elf").is_file()
    ini = (elsewhere / "fw" / "platformio.ini").read_text()
    assert f"symlink://{venv}" in ini  # the PlatformIO platform the wheel carries


def test_spinnaker_cores(venv, elsewhere):
    run([venv / "bin" / "hypr-edge", "generate", "m.q.npz", "-o", "spin", "--target", "spinnaker", "--cores", "2",
         "--build"], cwd=elsewhere)
    assert (elsewhere / "spin" / "spin_sim").is_file()


def test_checkout_maps_host_without_an_install():
    """In a checkout with no install (the editable install's import hook removed), hypr_edge.host is host/."""
    code = ("import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path\n"
            "                    if not getattr(f, '__module__', '').startswith('__editable__')]\n"
            "import hypr_edge.host.client as c\nprint(c.__file__)")
    assert run([sys.executable, "-c", code], cwd=ROOT).stdout.strip() == str(ROOT / "host" / "client.py")
