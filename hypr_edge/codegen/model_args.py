"""The quantized model a code-generating command names (`hypr-edge generate`, its spinnaker branch), with the
command line's --chunk / --learn overrides applied."""
from __future__ import annotations

from ..fixed.quantize import QuantizedModel


def load_model(args) -> QuantizedModel:
    qm = QuantizedModel.load(args.model)
    if args.chunk:
        qm.chunk = args.chunk
    if args.learn:
        qm.learn = args.learn
    return qm
