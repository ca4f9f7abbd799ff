"""Device-clean training (issue 14): every tensor the training step makes is made on the model's device. CI has no
GPU, so two stand-ins catch a tensor made on the wrong device:

- the `meta` device: BPTT, HYPR and the forward rule, and an Adam step, for every neuron model, on a model moved to
  meta; any operation that mixes a CPU tensor into it fails ("Tensor on device cpu is not on the expected device");
- a detector (a TorchFunctionMode) around the whole training loop, guards and evaluation included: it fails when
  code of hypr_edge calls a tensor factory (torch.zeros, torch.arange, torch.as_tensor of a NumPy array, ...)
  without saying the device, which on a GPU would make a CPU tensor.
"""
import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import hypr_edge
from hypr_edge import build_model, gradients
from hypr_edge.neurons import NEURONS
from hypr_edge.tasks import load_task
from hypr_edge.train import TrainConfig, new_model, train

PACKAGE = str(Path(hypr_edge.__file__).parent)
FACTORIES = {torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.eye, torch.linspace,
             torch.logspace, torch.rand, torch.randn, torch.randint, torch.randperm, torch.tensor, torch.as_tensor,
             torch.from_numpy, torch.scalar_tensor}


class DeviceLess(TorchFunctionMode):
    """Fails on a factory call from hypr_edge's code that does not name the device (torch.as_tensor of a tensor
    keeps that tensor's device and is fine)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            caller = sys._getframe(1)
            keeps_device = func is torch.as_tensor and args and isinstance(args[0], torch.Tensor)
            if caller.f_code.co_filename.startswith(PACKAGE) and not keeps_device:
                raise AssertionError(f"{caller.f_code.co_filename}:{caller.f_lineno}: torch.{func.__name__} "
                                     f"without a device")
        return func(*args, **kwargs)


def test_the_detector_sees_a_tensor_made_without_a_device():
    """The control: a factory call without a device, in code compiled as part of hypr_edge, is caught."""
    namespace = {"torch": torch}
    exec(compile("def made_here():\n    return torch.zeros(3)\n", str(Path(PACKAGE) / "gradient_methods.py"),
                 "exec"), namespace)
    with pytest.raises(AssertionError, match="torch.zeros without a device"), DeviceLess():
        namespace["made_here"]()
    with DeviceLess():
        torch.zeros(3)   # outside hypr_edge (here: the test), not our business


@pytest.mark.parametrize("neuron", NEURONS)
def test_whole_training_loop_makes_every_tensor_on_the_models_device(neuron):
    data = load_task("resonance", n_train=8, n_test=4, steps=12)
    for method in ("bptt", "hypr"):
        cfg = TrainConfig(neuron=neuron, method=method, hidden=[6, 5], epochs=1, batch_size=4, chunk=5)
        model = new_model(cfg, data)   # drawn on the CPU on purpose: the same network on every device
        with DeviceLess():
            metrics = train(model, data, cfg, progress=False)
        assert len(metrics["history"]["test_loss"]) == 1


@pytest.mark.parametrize("neuron", NEURONS)
def test_gradients_and_adam_step_run_on_the_meta_device(neuron):
    model = build_model(neuron, n_inputs=5, hidden=[7, 6], n_outputs=3, device="meta")
    x = torch.empty(4, 10, 5, device="meta")
    y = torch.empty(4, dtype=torch.long, device="meta")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    params = dict(model.named_parameters())
    for method in ("bptt", "hypr", "forward"):
        loss, grads = gradients(model, x, y, method=method, chunk=4, return_loss=True)
        assert loss.device.type == "meta" and grads.keys() == params.keys()
        for name, g in grads.items():
            assert g.device.type == "meta" and g.shape == params[name].shape
            params[name].grad = g
        opt.step()
    out, spikes = model(x, return_spikes=True)
    assert out.device.type == "meta" and all(z.device.type == "meta" for z in spikes)


@pytest.mark.parametrize("device, message", [
    ("tpu", "--device must be cpu, cuda, cuda:N or mps, got 'tpu'"),
    ("meta", "--device must be cpu, cuda, cuda:N or mps, got 'meta'"),
    ("cuda:x", "--device must be cpu, cuda, cuda:N or mps"),
])
def test_train_refuses_an_unknown_device_in_one_line(tmp_path, capsys, device, message):
    from hypr_edge.cli import main
    assert main(["train", "--device", device, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_train_says_when_cuda_is_absent(tmp_path, capsys):
    from hypr_edge.cli import main
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda: no CUDA device here" in err[0]
