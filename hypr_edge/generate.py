"""`hypr-edge generate`: write a quantized model's C for a target (hypr_edge.targets.registry), optionally
build it (host), and write the memory report."""
from __future__ import annotations

from .arguments import check_output_dir, int_in, positive_float, positive_int
from .codegen.build import HostBuildError, build_host
from .codegen.memory import memory_report
from .codegen.model_args import load_model
from .errors import CommandError
from .fixed.qmodel import MAX_CHUNK
from .fixed.quantize import QuantizeError
from .outputs import OutputFolder
from .spinnaker.generate import run as run_spinnaker
from .targets.registry import TARGETS


def add_arguments(parser) -> None:
    parser.add_argument("model", help="quantized model file (.npz from `hypr-edge quantize`)")
    parser.add_argument("-o", "--out", default="hypr_c", help="output directory (default: hypr_c)")
    parser.add_argument("--target", default="host", choices=TARGETS, metavar="TARGET",
                        help=f"target ({', '.join(TARGETS)}; default host)")
    parser.add_argument("--chunk", type=int_in(1, MAX_CHUNK), help="override the chunk length lambda")
    parser.add_argument("--learn", choices=("readout", "all"), help="override what learns on the device")
    parser.add_argument("--build", action="store_true", help="also compile with the target's compiler (host only)")
    parser.add_argument("--cores", type=positive_int, help="spinnaker: hidden cores (default: the fewest that fit --core-kb)")
    parser.add_argument("--core-kb", type=positive_float, default=128, help="spinnaker: memory per core in KB (default 128)")
    parser.add_argument("--force", action="store_true",
                        help="write into a folder hypr-edge did not write (beside your files; they are never replaced)")


def run(args) -> int:
    check_output_dir(args.out)
    if args.build and args.target not in ("host", "spinnaker"):
        raise CommandError("--build compiles host targets only")
    if args.target == "spinnaker":   # its own partition, builds and per-core report
        return run_spinnaker(args)
    try:
        qm = load_model(args)
        qm.check()
    except (QuantizeError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    binary = None
    # everything is made in a staging folder and moved into place only when all of it succeeded (outputs.py)
    with OutputFolder(args.out, force=args.force) as folder:
        TARGETS[args.target].write(qm, folder.staging)
        if args.build:
            try:
                binary = build_host(folder.staging)
            except HostBuildError as err:
                raise CommandError(str(err)) from None
        report = memory_report(qm, binary)
        (folder.staging / "memory.txt").write_text(report.text() + "\n")
        paths = folder.commit()
    for p in paths:
        if p.name != "memory.txt" and (binary is None or p.name != binary.name):
            print(f"wrote {p}")
    if binary is not None:
        print(f"built {folder.final(binary)}")
    print(report.text())
    return 0
