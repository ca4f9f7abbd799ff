"""`pio run` builds a generated firmware folder offline (local dev-platform in firmware/platformio), and the
ELF it makes boots in QEMU and answers the protocol."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hypr_edge.qemu import QemuSession
from hypr_edge.targets import cortex_m as fw

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.skipif(shutil.which("pio") is None or shutil.which("arm-none-eabi-gcc") is None
                                or shutil.which("qemu-system-arm") is None,
                                reason="needs platformio, arm-none-eabi-gcc and qemu-system-arm")


def test_pio_run_offline_builds_a_bootable_firmware(tmp_path):
    subprocess.run([sys.executable, str(fw.FIRMWARE_DIR / "platformio" / "setup_offline.py")], check=True,
                   capture_output=True)
    folder = fw.write_firmware(tmp_path / "fw", target="cortex-m4", model_dir=FIXTURES / "fake_model")
    # Any download attempt fails fast through a dead proxy: the build must not need one.
    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No", "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "9999"}
    r = subprocess.run(["pio", "run", "-d", str(folder)], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mps2-an386" in r.stdout and "SUCCESS" in r.stdout
    elf = folder / ".pio" / "build" / "mps2-an386" / "firmware.elf"
    with QemuSession(elf, "mps2-an386") as q:
        dev = q.connect()
        assert dev.hello().board == "mps2-an386"
        assert q.stop(dev) == 0
        dev.close()
    ini = (folder / "platformio.ini").read_text()
    assert "[env:nucleo_f401re]" in ini and "platform = ststm32" in ini  # the online env for a real board
