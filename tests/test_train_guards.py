"""Training guards (issue 10, item 5): a diverging run stops before it writes a model, BRF's omega stays in its
domain while training, and gradients() refuses parameters and labels outside their domain with one clear line."""
import numpy as np
import pytest
import torch

import hypr_edge.tasks
import hypr_edge.train
from hypr_edge import build_model, gradients
from hypr_edge.cli import main
from hypr_edge.gradient_methods import GradientInputError
from hypr_edge.tasks import load_task as real_load_task
from hypr_edge.train import TrainConfig, TrainingDiverged, new_model, train


def small(**changes):
    data = real_load_task("resonance", n_train=96, n_test=32, steps=30)
    for name, value in changes.items():
        setattr(data, name, value)
    return data


@pytest.fixture
def task(monkeypatch):
    """`hypr-edge train --task resonance` on the small data set, or on one with the changes given."""
    def use(**changes):
        monkeypatch.setattr(hypr_edge.tasks, "load_task", lambda name, **_: small(**changes))
    use()
    return use


def test_exploding_loss_stops_the_run_before_a_model_is_written(tmp_path, capsys, task):
    """LIF at lr 1e30: the loss stays finite (1e30 and up) but explodes; exit 2, one line, no model.onnx."""
    out = tmp_path / "run"
    code = main(["train", "--task", "resonance", "--neuron", "lif", "--hidden", "8", "--lr", "1e30", "--epochs", "2",
                 "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    assert "training diverged in epoch 1, batch" in err[0] and "its start" in err[0] and "try a smaller --lr" in err[0]
    assert not (out / "model.onnx").exists()


def test_loss_guard_limits():
    """Not finite, or over 100x the larger of the run's first loss and chance level (log C), stops the run."""
    from hypr_edge.train import check_loss
    cfg = TrainConfig(lr=0.5)
    chance = float(np.log(10))
    check_loss(5.0 * 99, 5.0, 10, "here", cfg)            # 99x its start: a bad stretch, not yet a divergence
    check_loss(99 * chance, 0.1, 10, "here", cfg)         # a start below chance level: chance level is the reference
    for loss, start in ((float("nan"), 5.0), (float("inf"), 5.0), (5.0 * 101, 5.0), (101 * chance, 0.1)):
        with pytest.raises(TrainingDiverged, match=r"training diverged in here: .*try a smaller --lr \(now 0.5\)"):
            check_loss(loss, start, 10, "here", cfg)


@pytest.mark.parametrize("project", [True, False])
def test_brf_omega_stays_in_its_domain(monkeypatch, project):
    """omega starts at delta*omega = 0.98 with a large neuron learning rate: Adam pushes some neurons past 1, where
    p(omega) is not real. With the projection after every step the run trains and ends with delta*|omega| <= 0.99;
    without it (the control) gradients() refuses the next step: the test sees the bound at work."""
    data = small()
    cfg = TrainConfig(neuron="brf", hidden=[8], epochs=2, theta_lr=5.0, chunk=8)
    model = new_model(cfg, data)
    with torch.no_grad():
        model.layers[0].omega.fill_(98.0)
    if not project:
        monkeypatch.setattr(hypr_edge.train, "project_parameters", lambda model: None)
        with pytest.raises(GradientInputError, match=r"delta\*omega = 1\.\d+: it must be < 1"):
            train(model, data, cfg, progress=False)
        return
    metrics = train(model, data, cfg, progress=False)
    dw = 0.01 * model.layers[0].omega.detach().abs()
    assert dw.max() <= 0.99 + 1e-6 and np.isfinite(metrics["history"]["train_loss"]).all()
    assert not torch.equal(model.layers[0].omega, torch.full_like(model.layers[0].omega, 98.0))  # omega did train


def test_gradients_refuse_what_is_outside_the_domain():
    model = build_model("brf", n_inputs=3, hidden=[5], n_outputs=4, dtype=torch.float64)
    x, y = torch.randn(2, 6, 3, dtype=torch.float64) * 20, torch.tensor([0, 3])
    for method in ("bptt", "hypr", "forward"):
        gradients(model, x, y, method=method)   # in the domain: fine
    with torch.no_grad():
        model.layers[0].omega[2] = 100.5   # delta*omega = 1.005: p(omega) is not real, the gradient would be NaN
    for method in ("bptt", "hypr", "forward"):
        with pytest.raises(GradientInputError, match=r"layer 0: BRF neuron 2 has delta\*omega = 1.005"):
            gradients(model, x, y, method=method)
    with torch.no_grad():
        model.layers[0].omega[2] = 7.0
        model.layers[0].w_in[0, 0] = float("nan")
    with pytest.raises(GradientInputError, match="parameter layers.0.w_in holds NaN"):
        gradients(model, x, y)
    with torch.no_grad():
        model.layers[0].w_in[0, 0] = 0.1
    for bad in (torch.tensor([0, 4]), torch.tensor([-1, 0])):
        with pytest.raises(GradientInputError, match=r"labels must lie in 0\.\.3"):
            gradients(model, x, bad)
    with pytest.raises(GradientInputError, match="labels must be integers"):
        gradients(model, x, torch.tensor([0.0, 1.0]))
    with pytest.raises(GradientInputError, match="inputs hold NaN"):
        gradients(model, x.index_fill(1, torch.tensor([2]), float("nan")), y)
    assert issubclass(GradientInputError, ValueError)


def test_train_command_turns_bad_labels_into_one_line(tmp_path, capsys, task):
    data = small()
    y = data.y_train.copy()
    y[5] = data.n_classes   # a label the readout has no class for
    task(y_train=y)
    code = main(["train", "--task", "resonance", "--neuron", "lif", "--hidden", "8", "--epochs", "1", "--quiet",
                 "--batch-size", "96", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"labels must lie in 0..{data.n_classes - 1}" in err[0]
    assert not (tmp_path / "run" / "model.onnx").exists()
