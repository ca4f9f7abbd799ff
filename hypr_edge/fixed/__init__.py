"""Fixed-point side of hypr-edge (docs/fixed-point.md): the integer primitives (spec), the quantized model and its
file (qmodel), the quantizer (quantize) and the integer NumPy emulator (emulator), the bit-exact twin of the C.

The names below are imported on first use, so that importing `spec` (the neuron models do) loads nothing else."""
from __future__ import annotations

_LAZY = {"QuantizedModel": "qmodel", "QuantizeError": "qmodel", "quantize": "quantize", "Emulator": "emulator"}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
