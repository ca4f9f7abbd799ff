"""The real generated BRF library in the firmware, in QEMU (M4F mps2-an386, M3 mps2-an385, STM32F405
netduinoplus2): a test set streamed through the board protocol for inference and for on-device learning, with
outputs at every step and the weights after every sequence bit-identical to hypr_edge.fixed.emulator."""
import shutil

import numpy as np
import pytest

from hypr_edge.targets import cortex_m as fw
from hypr_edge.cli import main
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.qemu import QemuSession
from hypr_edge.stream import stream_dataset
from hypr_edge.tasks import load_task

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")
BOARDS = [("cortex-m4", "mps2-an386", ()), ("cortex-m3", "mps2-an385", ()), ("cortex-m4", "netduinoplus2", ()),
          ("cortex-m4", "mps2-an386", ("HYPR_STORE_STATES=1",))]   # the build option: states stored, not replayed


@pytest.fixture(scope="module")
def qm():
    # A BRF network sized for the digits task (8 inputs, 10 classes), hidden and readout both learning.
    return random_qmodel(np.random.default_rng(5), "brf", 8, 24, 10, True, 16, "all")


@pytest.fixture(scope="module")
def data(qm):
    ds = load_task("digits", seed=0)
    return qm.quantize_inputs(ds.x_test[:24]).astype(np.int16), ds.y_test[:24], ds.loss_steps


@pytest.mark.parametrize("target,board,defines", BOARDS)
def test_stream_test_set_bit_identical_to_emulator(qm, data, tmp_path, target, board, defines):
    x, y, loss_steps = data
    folder = fw.write_firmware(tmp_path / "fw", target=target, board=board, qmodel=qm)
    elf = fw.build_firmware(folder, board, defines=defines)
    with QemuSession(elf, board) as q:
        dev = q.connect()
        inf = stream_dataset(dev, qm, x, y, learn=False, loss_steps=loss_steps, check=True, progress=False)
        learn = stream_dataset(dev, qm, x, y, learn=True, loss_steps=loss_steps, check=True, progress=False)
        st = dev.stats()
        assert q.stop(dev) == 0
        dev.close()
    assert inf.n == learn.n == len(x)
    assert st.steps_learn == x.shape[0] * x.shape[1] and st.ticks_learn > 0


def test_cli_generate_run_and_stream(qm, tmp_path, capsys):
    qpath = tmp_path / "m.q.npz"
    qm.save(qpath)
    out = tmp_path / "fw"
    assert main(["generate", str(qpath), "-o", str(out), "--target", "cortex-m3"]) == 0
    assert (out / "platformio.ini").is_file() and (out / "model" / "hypr_model.c").is_file()
    fw.build_firmware(out)
    assert main(["run", str(out), "--hello"]) == 0
    assert f"model hash {qm.model_hash():08x}" in capsys.readouterr().out
    assert main(["stream", "--firmware", str(out), "--limit", "4", "--learn", "--check", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "bit-identical" in text and "accuracy" in text
    assert main(["stream", "--port", "socket://127.0.0.1:1", "--model", str(qpath), "--quiet"]) == 2
