"""`hypr-edge train` and `hypr-edge pipeline` as a user runs them."""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hypr_edge.cli import main
from hypr_edge.onnx_io import load_onnx, run_onnx_sequence
from hypr_edge.tasks import load_task


def test_train_writes_artifacts_and_learns(tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--task", "digits", "--neuron", "lif", "--method", "hypr", "--chunk", "8",
                 "--hidden", "24", "--epochs", "2", "--quiet", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]["test_accuracy"]) == 2
    assert metrics["test_accuracy"] > 0.2  # chance is 0.1: two epochs of HYPR must learn something
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    spec = load_onnx(out / "model.onnx")
    assert spec.neuron == "lif" and spec.hidden_sizes == [24] and spec.info["task"] == "digits"
    # The artifact alone reproduces the reported accuracy.
    data = load_task("digits", seed=0)
    o = run_onnx_sequence(out / "model.onnx", data.x_test)["readout"]
    acc = np.mean(o[:, -data.loss_steps:].mean(1).argmax(-1) == data.y_test)
    assert abs(acc - metrics["test_accuracy"]) < 0.01


@pytest.mark.parametrize("argv, message", [
    (["--task", "nope"], "unknown task"),
    (["--neuron", "izhikevich"], "unknown neuron model"),
    (["--method", "rtrl"], "unknown method"),
    (["--hidden", "12,x"], "comma-separated integers"),
    (["--chunk", "0"], "--chunk must be >= 1"),
    (["--alpha-out", "1.5"], "--alpha-out"),
    (["--task", "shd"], "needs data"),
])
def test_train_bad_arguments_give_one_clear_line(argv, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hypr_edge", "train", *argv, "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_pipeline_end_to_end(tmp_path, capsys):
    """train -> quantize -> generate -> gcc -> compare C with the emulator, inference and learning, then (CI has
    the tools) Cortex-M4 firmware in QEMU learning over the UART, checked against the emulator."""
    code = main(["pipeline", "--task", "digits", "--neuron", "brf", "--hidden", "12", "--epochs", "1",
                 "--learn-sequences", "12", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert (tmp_path / "model.q.npz").exists() and (tmp_path / "c" / "hypr_model.c").exists()
    assert re.search(r"model: test accuracy \d+\.\d% \(float, after training\)", out)
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        assert "[7/7] on the device: learn from 12 training sequences" in out
        assert "on-device learning: 12 sequences" in out
        assert "check: outputs and weights bit-identical to the emulator" in out
        before, after = map(float, re.search(r"test accuracy (\d+\.\d)% before learning over the UART, "
                                             r"(\d+\.\d)% after 12 training sequences", out).groups())
        assert before > 20 and after > 20  # chance is 10 %: the device runs the trained model, before and after


def test_brf_starts_resonating_in_the_task_band():
    """A task that knows its frequency band gets BRF neurons whose natural frequency delta*omega/2pi lies in it."""
    from hypr_edge.train import TrainConfig, new_model
    data = load_task("resonance", n_train=64, n_test=32, f_min=0.03, f_max=0.1, jitter=0.0)
    model = new_model(TrainConfig(neuron="brf", hidden=[32]), data)
    freq = model.layers[0].omega.detach().abs().numpy() * 0.01 / (2 * np.pi)
    assert data.band == (0.03, 0.1) and freq.min() >= 0.03 and freq.max() <= 0.1
    assert freq.max() - freq.min() > 0.05  # spread over the band, not one frequency
    lif = new_model(TrainConfig(neuron="lif", hidden=[32]), data)  # other neurons: unchanged initialisation
    assert not hasattr(lif.layers[0], "omega")


def test_diverging_training_stops_with_a_clear_message():
    """A BRF whose omega is pushed past delta*omega = 1 has an undefined p(omega): say so, don't train on NaN."""
    from hypr_edge.train import TrainConfig, TrainingDiverged, new_model, train
    data = load_task("resonance", n_train=64, n_test=32, steps=40)
    cfg = TrainConfig(neuron="brf", hidden=[8], epochs=3, lr=1e4, chunk=8)
    with pytest.raises(TrainingDiverged, match="training diverged in epoch .* try a smaller --lr"):
        train(new_model(cfg, data), data, cfg, progress=False)


def test_long_memory_caps_the_learning_rate_of_what_acts_at_every_step():
    """On a task that holds a state for M steps, the neuron parameters and the bias learn at most at 10 / M, BRF's
    b' starts below 1 / (delta M); the weights are scaled by their size, the readout keeps lr."""
    from hypr_edge.train import TrainConfig, new_model, param_groups, weight_scale
    data = load_task("cue", steps=1000, n_train=32, n_test=8)
    cfg = TrainConfig(neuron="brf", hidden=[16], lr=0.05)
    model = new_model(cfg, data)
    layer, cap = model.layers[0], 10.0 / data.memory
    assert data.memory == 980 and layer.b_offset.abs().max() <= 1 / (0.01 * 980)  # generic init: U(2, 3)
    lr = {id(p): g["lr"] for g in param_groups(model, cfg, data) for p in g["params"]}
    assert lr[id(layer.omega)] == lr[id(layer.b_offset)] == pytest.approx(cap)
    assert lr[id(layer.bias)] == pytest.approx(cap * weight_scale(layer.w_in))
    assert lr[id(layer.w_in)] == pytest.approx(0.05 * weight_scale(layer.w_in)) and weight_scale(layer.w_in) > 10
    assert lr[id(model.readout.w_out)] == 0.05
    digits = load_task("digits")
    short = new_model(cfg, digits)
    assert {g["lr"] for g in param_groups(short, cfg, digits)[:1]} == {0.05}  # no memory span: no cap


def test_brf_holds_the_cue_only_with_the_memory_initialisation():
    """cue at T = 300: BRF with HYPR learns it in two epochs when b' starts small (the task's memory span), and stays
    at chance with the generic b' ~ U(2, 3), which forgets within 50 steps."""
    import dataclasses

    from hypr_edge.train import TrainConfig, new_model, train
    data = load_task("cue", steps=300, n_train=128, n_test=64)
    cfg = TrainConfig(neuron="brf", method="hypr", hidden=[16], epochs=2)
    assert train(new_model(cfg, data), data, cfg, progress=False)["test_accuracy"] >= 0.95
    generic = dataclasses.replace(data, memory=None)
    assert train(new_model(cfg, generic), generic, cfg, progress=False)["test_accuracy"] < 0.7


def test_learning_rate_schedules():
    from hypr_edge.train import lr_factor
    cosine = lr_factor("cosine", 10)
    assert cosine(0) == 1.0 and cosine(5) == pytest.approx(0.5) and cosine(10) == pytest.approx(0.0)
    assert lr_factor("constant", 10)(7) == 1.0
    with pytest.raises(ValueError, match="unknown learning rate schedule 'step'"):
        lr_factor("step", 10)
