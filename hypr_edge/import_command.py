"""`hypr-edge import model.nir -o model.onnx`: a NIR graph (snnTorch, Norse, ...) to hypr-edge's model file."""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import check_output_file, positive_float
from .errors import CommandError
from .nir_io import DEFAULT_DT, LIF_RESETS, NirError, import_nir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", help="the NIR file (.nir)")
    parser.add_argument("-o", "--output", help="the ONNX model to write (default: the graph's name with .onnx)")
    parser.add_argument("--dt", type=positive_float, default=None,
                        help=f"the step that turns τ into α = 1 − dt/τ (default: the graph's own if hypr-edge wrote "
                             f"it, else {DEFAULT_DT:g}, snnTorch's)")
    parser.add_argument("--lif-reset", choices=list(LIF_RESETS), default=None,
                        help="how the LIF nodes reset: zero (NIR's meaning, neuron lif_zero; the default) or subtract "
                             "(snnTorch's default neurons, which it also writes with v_reset = 0; neuron lif)")


def run(args: argparse.Namespace) -> int:
    from .onnx_io import export_onnx

    out = Path(args.output) if args.output else Path(args.graph).with_suffix(".onnx")
    check_output_file(out, inputs=(args.graph,))
    try:
        spec = import_nir(args.graph, dt=args.dt, lif_reset=args.lif_reset)
    except NirError as err:
        raise CommandError(str(err)) from None
    try:
        export_onnx(spec, out)
    except OSError as err:
        raise CommandError(f"{out}: cannot write ({err.strerror or err})") from None
    recurrent = "recurrent" if spec.layers[0].w_rec is not None else "feed-forward"
    readout = "memoryless" if not spec.alpha_out.any() else "leaky"
    sizes = "-".join(str(n) for n in [spec.n_inputs, *spec.hidden_sizes, spec.n_outputs])
    print(f"{out}: {spec.neuron} {sizes} ({recurrent}, {readout} readout, threshold {spec.constants['threshold']:g}, "
          f"dt {spec.info['nir_dt']})")
    return 0
