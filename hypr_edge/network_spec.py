"""A trained network as plain NumPy arrays: the one description every stage after training reads.

Data flows one way: torch model -> NetworkSpec -> ONNX file -> NetworkSpec -> quantized model -> emulator / C.
Parameters are stored as their *effective* values (omega = |omega_raw|, not the raw trainable tensor).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .neurons import MODELS, Neuron


class SpecError(ValueError):
    """A network description that is inconsistent or not supported."""


@dataclass
class LayerSpec:
    w_in: np.ndarray               # (N, N_in): input (or previous layer's spikes) -> current
    w_rec: np.ndarray | None       # (N, N): z_{t-1} -> current; None when recurrence is off
    bias: np.ndarray               # (N,)
    params: dict[str, np.ndarray]  # per-neuron theta, effective values, each (N,)

    @property
    def size(self) -> int:
        return int(self.w_in.shape[0])


@dataclass
class NetworkSpec:
    neuron: str                    # a registered neuron model (hypr_edge.neurons.MODELS), shared by all hidden layers
    layers: list[LayerSpec]
    w_out: np.ndarray              # (C, N_last)
    b_out: np.ndarray              # (C,)
    alpha_out: np.ndarray          # (C,) leaky-integrator readout decay, 0 = memoryless
    constants: dict[str, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)  # free-form metadata (task, input encoding, ...)

    def __post_init__(self):
        if not self.constants and self.neuron in MODELS:
            self.constants = dict(MODELS[self.neuron].default_constants)
        self.validate()

    @property
    def n_inputs(self) -> int:
        return int(self.layers[0].w_in.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.w_out.shape[0])

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.size for layer in self.layers]

    @property
    def model(self) -> type[Neuron]:
        """The neuron model's class (names, defaults); make_neuron(spec.neuron, spec.constants) for its equations."""
        return MODELS[self.neuron]

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.model.state_names

    def validate(self) -> None:
        if self.neuron not in MODELS:
            raise SpecError(f"unknown neuron model {self.neuron!r}; expected one of {', '.join(MODELS)}")
        if not self.layers:
            raise SpecError("a network needs at least one hidden layer")
        missing = set(self.model.default_constants) - set(self.constants)
        if missing:
            raise SpecError(f"{self.neuron} constants missing: {sorted(missing)}")
        fan_in = self.layers[0].w_in.shape[1]
        for i, layer in enumerate(self.layers):
            n = layer.size
            if layer.w_in.ndim != 2 or layer.w_in.shape[1] != fan_in:
                raise SpecError(f"layer {i}: w_in has shape {layer.w_in.shape}, expected ({n}, {fan_in})")
            if layer.w_rec is not None and layer.w_rec.shape != (n, n):
                raise SpecError(f"layer {i}: w_rec has shape {layer.w_rec.shape}, expected ({n}, {n})")
            if layer.bias.shape != (n,):
                raise SpecError(f"layer {i}: bias has shape {layer.bias.shape}, expected ({n},)")
            want = set(self.model.param_names)
            if set(layer.params) != want:
                raise SpecError(f"layer {i}: {self.neuron} parameters are {sorted(want)}, got {sorted(layer.params)}")
            for name, value in layer.params.items():
                if np.shape(value) != (n,):
                    raise SpecError(f"layer {i}: parameter {name} has shape {np.shape(value)}, expected ({n},)")
            fan_in = n
        c = self.w_out.shape[0]
        if self.w_out.shape != (c, fan_in) or self.b_out.shape != (c,) or self.alpha_out.shape != (c,):
            raise SpecError(
                f"readout shapes w_out {self.w_out.shape}, b_out {self.b_out.shape}, alpha_out {self.alpha_out.shape} "
                f"do not fit {fan_in} hidden neurons")
        arrays = [self.w_out, self.b_out, self.alpha_out]
        for layer in self.layers:
            arrays += [layer.w_in, layer.bias, *layer.params.values()]
            if layer.w_rec is not None:
                arrays.append(layer.w_rec)
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise SpecError("the network holds NaN or infinite values")
        if not all(np.isfinite(float(v)) for v in self.constants.values()):
            raise SpecError(f"the neuron constants hold NaN or infinite values: {self.constants}")
        if np.any(self.alpha_out < 0) or np.any(self.alpha_out > 1):
            raise SpecError("readout decay alpha_out outside [0, 1]")
