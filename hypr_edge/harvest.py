"""`hypr-edge harvest`: turn what a device learned into a model file. The checkpoint's learned weights become the
weights of a new quantized model (and, with --onnx, of a dequantized float model), so the adapted network can be
verified, evaluated on the host and regenerated as firmware whose flash tables start from what was learned."""
from __future__ import annotations

import argparse
import dataclasses

from .checkpoint import Checkpoint, CheckpointError
from .errors import CommandError
from .fixed.qmodel import QuantizedModel


def harvest(ck: Checkpoint) -> QuantizedModel:
    """The checkpoint's model with its learned weights: the hidden layer's when it learns (learn = "all"), the
    readout's always. The PRNG seed becomes the checkpoint's PRNG state, so learning on a regenerated device
    goes on with fresh random numbers instead of repeating the ones already drawn. Neuron states, eligibilities
    and a partly buffered chunk are not part of a model: a regenerated device starts them at zero."""
    qm, st = ck.qm, ck.state
    w = st["w"].astype(qm.w.dtype) if "w" in st else qm.w.copy()
    info = dict(qm.info, harvested={"from_model_hash": f"0x{qm.model_hash():08x}", "updates": int(st["updates"]),
                                    "source": ck.meta.get("source", "")})
    out = dataclasses.replace(qm, w=w.reshape(qm.w.shape), wo=st["wo"].astype(qm.wo.dtype).reshape(qm.wo.shape),
                              seed=int(st["prng"]), info=info)
    out.check()
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file (hypr-edge stream --checkpoint, or Checkpoint.save)")
    parser.add_argument("-o", "--output", required=True, help="the adapted quantized model to write (.q.npz)")
    parser.add_argument("--onnx", help="also write the adapted network as a float ONNX model (dequantized)")


def run(args) -> int:
    from .arguments import check_output_file
    out = check_output_file(args.output)
    onnx = check_output_file(args.onnx) if args.onnx else None
    try:
        ck = Checkpoint.load(args.checkpoint)
    except CheckpointError as err:
        raise CommandError(str(err)) from None
    qm = harvest(ck)
    qm.save(out)
    print(f"{args.checkpoint}: {ck.updates} chunk updates of model {ck.qm.model_hash():08x} "
          f"({ck.meta.get('source', 'unknown source')})")
    changed_h = int((qm.w != ck.qm.w).sum())
    changed_o = int((qm.wo != ck.qm.wo).sum())
    print(f"learned: {changed_h} of {qm.w.size} hidden and {changed_o} of {qm.wo.size} readout weights differ "
          f"from the model's")
    print(f"wrote {out} (model {qm.model_hash():08x})")
    if onnx is not None:
        from .onnx_io import export_onnx
        export_onnx(qm.to_spec(), onnx)
        print(f"wrote {onnx} (dequantized float model)")
    return 0
