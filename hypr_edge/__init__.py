"""hypr-edge: recurrent spiking networks from training (BPTT, HYPR) to fixed-point C that learns on-device."""
from __future__ import annotations

from .resources import map_checkout_host

__version__ = "0.1.0"
map_checkout_host()  # in a source checkout, hypr_edge.host is the top-level host/ folder

# Public API, imported on first use so that light tools (the CLI's --help, the emulator) do not pay for torch.
_LAZY = {
    "build_model": "hypr_edge.model",
    "model_from_spec": "hypr_edge.model",
    "RSNN": "hypr_edge.model",
    "gradients": "hypr_edge.gradient_methods",
    "NetworkSpec": "hypr_edge.network_spec",
    "LayerSpec": "hypr_edge.network_spec",
    "load_task": "hypr_edge.tasks",
    "export_onnx": "hypr_edge.onnx_io",
    "load_onnx": "hypr_edge.onnx_io",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hypr_edge' has no attribute {name!r}")


__all__ = sorted(_LAZY)
