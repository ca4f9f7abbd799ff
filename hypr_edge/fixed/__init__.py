"""Fixed-point side of hypr-edge (docs/fixed-point.md): the quantizer, the quantized model file and the
integer NumPy emulator, the bit-exact twin of the generated C."""
from .quantize import QuantizedModel, QuantizeError, quantize

__all__ = ["QuantizedModel", "QuantizeError", "quantize", "Emulator"]


def __getattr__(name):
    if name == "Emulator":
        from .emulator import Emulator
        return Emulator
    raise AttributeError(name)
