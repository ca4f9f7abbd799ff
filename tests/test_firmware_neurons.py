"""Every registered neuron model's generated library in the firmware, in QEMU (M4F, mps2-an386): test sequences
streamed through the board protocol for inference and on-device learning, outputs at every step and the weights
after every sequence bit-identical to hypr_edge.fixed.emulator (tests/test_firmware_model.py: BRF on more boards)."""
import shutil

import numpy as np
import pytest

from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.neurons import NEURONS
from hypr_edge.qemu import QemuSession
from hypr_edge.stream import stream_dataset
from hypr_edge.targets import cortex_m as fw
from hypr_edge.tasks import load_task

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")
BOARD = "mps2-an386"


@pytest.mark.parametrize("neuron", NEURONS)
def test_neuron_model_in_qemu_bit_identical_to_emulator(neuron, tmp_path):
    qm = random_qmodel(np.random.default_rng(5), neuron, 8, 24, 10, True, 16, "all")   # sized for digits
    ds = load_task("digits", seed=0)
    x, y = qm.quantize_inputs(ds.x_test[:8]).astype(np.int16), ds.y_test[:8]
    folder = fw.write_firmware(tmp_path / "fw", target="cortex-m4", board=BOARD, qmodel=qm)
    with QemuSession(fw.build_firmware(folder, BOARD), BOARD) as q:
        dev = q.connect()
        for learn in (False, True):   # check=True: stops at the first output or weight that differs
            res = stream_dataset(dev, qm, x, y, learn=learn, loss_steps=ds.loss_steps, check=True, progress=False)
            assert res.n == len(x)
        spikes = dev.spike_counts().sum()
        assert q.stop(dev) == 0
        dev.close()
    assert spikes > 0, "a silent layer would leave the spike terms untested"
