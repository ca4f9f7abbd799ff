"""The neuron models: the registry. Each model lives in one module (base.py says what a model provides); the rest
of hypr-edge asks this registry and never names a model. Adding one: its module here, its C kernel in
firmware/hypr/neurons/, one line below, one section in docs/fixed-point.md §4 (docs/architecture.md)."""
from __future__ import annotations

from .adlif import AdLIF
from .alif import ALIF
from .base import DOUBLE_GAUSSIAN, SLAYER, Neuron, Surrogate, double_gaussian, slayer
from .brf import BRF
from .lif import LIF
from .lif_zero import LIFZero

#: every neuron model by name, in the order the tools list them
MODELS: dict[str, type[Neuron]] = {cls.name: cls for cls in (LIF, ALIF, BRF, AdLIF, LIFZero)}
NEURONS: tuple[str, ...] = tuple(MODELS)

__all__ = ["MODELS", "NEURONS", "Neuron", "Surrogate", "SLAYER", "DOUBLE_GAUSSIAN", "double_gaussian", "slayer",
           "make_neuron", "model_class"]


def model_class(name: str) -> type[Neuron]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown neuron model {name!r}; expected one of {', '.join(MODELS)}") from None


def make_neuron(name: str, constants: dict[str, float] | None = None) -> Neuron:
    return model_class(name)(constants)
