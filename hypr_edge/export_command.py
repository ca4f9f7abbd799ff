"""`hypr-edge export model.onnx --nir out.nir`: hypr-edge's model file to a NIR graph for other tools."""
from __future__ import annotations

import argparse

from .arguments import check_output_file, positive_float
from .errors import CommandError
from .nir_io import DEFAULT_DT, RESISTANCES, NirError, export_nir, write_nir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the float model (model.onnx)")
    parser.add_argument("--nir", required=True, metavar="OUT", help="write the network as a NIR graph (.nir)")
    parser.add_argument("--dt", type=positive_float, default=None,
                        help=f"the step for τ = dt/(1 − α) (default: the one it was imported with, "
                             f"else {DEFAULT_DT:g})")
    parser.add_argument("--resistance", choices=RESISTANCES, default="unit",
                        help="unit: R = 1, weights as they are (Norse reads this); snntorch: R = τ/dt, weight rows "
                             "times 1 − α (snnTorch's importer needs this)")
    parser.add_argument("--lif-reset", choices=["subtract"], default=None,
                        help="write a subtract-reset 'lif' network anyway (marked in the graph's metadata; other tools "
                             "read NIR's LIF as reset-to-zero)")


def run(args: argparse.Namespace) -> int:
    from .onnx_io import OnnxFormatError, load_onnx

    check_output_file(args.nir, inputs=(args.model,))
    try:
        spec = load_onnx(args.model)
        graph = export_nir(spec, dt=args.dt, resistance=args.resistance, lif_reset=args.lif_reset)
    except (OnnxFormatError, NirError) as err:
        raise CommandError(str(err)) from None
    try:
        write_nir(graph, args.nir)
    except OSError as err:
        raise CommandError(f"{args.nir}: cannot write ({err.strerror or err})") from None
    print(f"{args.nir}: {len(graph.nodes)} NIR nodes ({', '.join(graph.nodes)})")
    return 0
