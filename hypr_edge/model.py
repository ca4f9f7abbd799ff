"""The RSNN torch module: recurrent spiking layers and a leaky-integrator readout (HYPR.md section 1)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .network_spec import LayerSpec, NetworkSpec
from .neurons import Neuron, make_neuron


class SpikingLayer(nn.Module):
    def __init__(self, neuron: Neuron, n_in: int, n: int, recurrent: bool, gen: torch.Generator, dtype):
        super().__init__()
        self.neuron = neuron
        self.n_in, self.n = n_in, n
        bound = math.sqrt(6.0 / (n_in + n))  # HYPR.md: U(+-sqrt(6 / (fan_in + N)))
        self.w_in = nn.Parameter((2 * torch.rand(n, n_in, generator=gen, dtype=dtype) - 1) * bound)
        self.w_rec = nn.Parameter((2 * torch.rand(n, n, generator=gen, dtype=dtype) - 1) * bound) if recurrent else None
        self.bias = nn.Parameter(torch.zeros(n, dtype=dtype))
        for name, value in neuron.init_raw(n, gen, dtype).items():
            self.register_parameter(name, nn.Parameter(value.to(dtype)))

    @property
    def theta(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in self.neuron.param_names}

    def initial_state(self, batch: int) -> torch.Tensor:
        return self.w_in.new_zeros(batch, self.n, self.neuron.d)

    def current(self, x: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        """I_t = W_in x_t + W_rec z_{t-1} + b."""
        return self.add_recurrent(self.input_current(x), z_prev)

    def input_current(self, x: torch.Tensor) -> torch.Tensor:
        """W_in x_t + b; for any leading shape, e.g. a whole chunk of steps at once."""
        return x @ self.w_in.T + self.bias

    def add_recurrent(self, input_current: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        """I_t from W_in x_t + b and z_{t-1}."""
        if self.w_rec is None:
            return input_current
        return torch.addmm(input_current, z_prev, self.w_rec.T)

    def forward_step(self, s_prev: torch.Tensor, x: torch.Tensor):
        """One step: returns (s_t, z_t, I_t, z_{t-1})."""
        z_prev = self.neuron.spike(s_prev)
        current = self.current(x, z_prev)
        s = self.neuron.step(s_prev, current, self.theta, z_prev)
        return s, self.neuron.spike(s), current, z_prev


class Readout(nn.Module):
    """o_t = alpha_o o_{t-1} + (1 - alpha_o)(W_out z_t + b_out); alpha_o is fixed (a buffer)."""

    def __init__(self, n: int, n_out: int, alpha_out, gen: torch.Generator, dtype):
        super().__init__()
        bound = math.sqrt(6.0 / (n + n_out))
        self.w_out = nn.Parameter((2 * torch.rand(n_out, n, generator=gen, dtype=dtype) - 1) * bound)
        self.b_out = nn.Parameter(torch.zeros(n_out, dtype=dtype))
        self.register_buffer("alpha_out", torch.as_tensor(alpha_out, dtype=dtype).expand(n_out).clone())

    def step(self, o_prev: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.alpha_out * o_prev + self.drive(z)

    def drive(self, z: torch.Tensor) -> torch.Tensor:
        """(1 - alpha_o)(W_out z_t + b_out); for any leading shape, e.g. a whole chunk of steps at once."""
        return (1 - self.alpha_out) * (z @ self.w_out.T + self.b_out)


class RSNN(nn.Module):
    def __init__(self, neuron: str, n_inputs: int, hidden: Sequence[int], n_outputs: int, recurrent: bool = True,
                 alpha_out: float | Sequence[float] = 0.9, seed: int = 0, dtype=torch.float32,
                 constants: dict[str, float] | None = None, info: dict[str, str] | None = None):
        super().__init__()
        if not hidden or any(int(n) < 1 for n in hidden):
            raise ValueError(f"hidden sizes must be positive, got {list(hidden)}")
        if n_inputs < 1 or n_outputs < 1:
            raise ValueError("a network needs at least one input and one output")
        self.neuron = make_neuron(neuron, constants)
        gen = torch.Generator().manual_seed(seed)
        sizes = [n_inputs, *map(int, hidden)]
        self.layers = nn.ModuleList(
            SpikingLayer(self.neuron, sizes[i], sizes[i + 1], recurrent, gen, dtype) for i in range(len(hidden)))
        self.readout = Readout(sizes[-1], n_outputs, alpha_out, gen, dtype)
        self.info = dict(info or {})

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.readout.w_out.shape[0]

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        """x: (B, T, n_inputs) -> readout o (B, T, C) [, spikes per layer (B, T, N)]."""
        batch, steps, _ = x.shape
        states = [layer.initial_state(batch) for layer in self.layers]
        o = x.new_zeros(batch, self.n_outputs)
        outputs, spikes = [], [[] for _ in self.layers]
        for t in range(steps):
            inp = x[:, t]
            for i, layer in enumerate(self.layers):
                states[i], inp, _, _ = layer.forward_step(states[i], inp)
                spikes[i].append(inp)
            o = self.readout.step(o, inp)
            outputs.append(o)
        out = torch.stack(outputs, 1)
        if return_spikes:
            return out, [torch.stack(z, 1) for z in spikes]
        return out

    def to_spec(self) -> NetworkSpec:
        def arr(t):
            return t.detach().cpu().numpy().astype(np.float64)
        layers = [LayerSpec(w_in=arr(l.w_in), w_rec=None if l.w_rec is None else arr(l.w_rec), bias=arr(l.bias),
                            params={k: arr(v) for k, v in self.neuron.effective(l.theta).items()})
                  for l in self.layers]
        return NetworkSpec(neuron=self.neuron.name, layers=layers, w_out=arr(self.readout.w_out),
                           b_out=arr(self.readout.b_out), alpha_out=arr(self.readout.alpha_out),
                           constants=dict(self.neuron.k), info=dict(self.info))


def build_model(neuron: str = "brf", n_inputs: int = 1, hidden: Sequence[int] | int = (64,), n_outputs: int = 2,
                recurrent: bool = True, alpha_out=0.9, seed: int = 0, dtype=torch.float32,
                constants: dict[str, float] | None = None, device: str | torch.device | None = None, **init) -> RSNN:
    """Build a fresh RSNN. `init` overrides neuron initialisation ranges, e.g. BRF omega=(15, 50), b_offset=(0.1, 1).
    The initial values are drawn on the CPU (the same network for a seed on every device), then moved to `device`."""
    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    model = RSNN(neuron, n_inputs, hidden, n_outputs, recurrent, alpha_out, seed, dtype, constants)
    if init:
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for layer in model.layers:
                for name, value in model.neuron.init_raw(layer.n, gen, dtype, **init).items():
                    getattr(layer, name).copy_(value)
    return model if device is None else model.to(device)


def model_from_spec(spec: NetworkSpec, dtype=torch.float64) -> RSNN:
    """The torch model of a NetworkSpec (e.g. one read back from ONNX, or a dequantized one)."""
    spec.validate()
    recurrent = [l.w_rec is not None for l in spec.layers]
    if len(set(recurrent)) > 1:
        raise ValueError("layers must all be recurrent or all feed-forward")
    model = RSNN(spec.neuron, spec.n_inputs, spec.hidden_sizes, spec.n_outputs, recurrent[0],
                 spec.alpha_out, 0, dtype, spec.constants, spec.info)

    def put(param, value):
        param.copy_(torch.as_tensor(np.asarray(value), dtype=dtype, device=param.device))
    with torch.no_grad():
        for layer, ls in zip(model.layers, spec.layers):
            put(layer.w_in, ls.w_in)
            put(layer.bias, ls.bias)
            if ls.w_rec is not None:
                put(layer.w_rec, ls.w_rec)
            for name, value in model.neuron.raw_from_effective(ls.params).items():
                put(getattr(layer, name), value)
        put(model.readout.w_out, spec.w_out)
        put(model.readout.b_out, spec.b_out)
        put(model.readout.alpha_out, spec.alpha_out)
    return model
