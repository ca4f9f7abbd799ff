"""Generate the SpiNNaker core images (templates/spinnaker/: each core's data and configuration; its code is
firmware/spinnaker/ over the kernels of firmware/hypr/), build the host machine simulator (gcc) and the per-core
objects for ARM968 and Cortex-M4F (arm-none-eabi-gcc), run the simulator, report memory per core.
`hypr-edge generate --target spinnaker [--cores K] [--core-kb 128]` ends in `run` below."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..codegen.build import HOST_CFLAGS
from ..codegen.model_args import load_model
from ..codegen.render import _env, check_context, copy_kernels, template_context
from ..codegen.verify import read_trace, write_input
from ..errors import CommandError
from ..fixed.quantize import QuantizedModel, QuantizeError
from ..fixed.spec import xorshift32_jump
from ..outputs import OutputFolder
from ..resources import firmware_dir
from . import packets
from .partition import DEFAULT_BUDGET, PartitionError, Plan, draw_offsets, plan

FIRMWARE_DIR = firmware_dir() / "spinnaker"
#: hand-written: the spin1_api subset, the descriptor, the host machine simulator, the core image and its roles
RUNTIME_FILES = ("spin1_api.h", "spin_core.h", "spin_sim.c", "spin_image.h", "spin_hidden.h", "spin_readout.h")
ARCHES = {"arm968": ("-mcpu=arm968e-s", "-marm"), "cortex-m4f": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                                                                 "-mfpu=fpv4-sp-d16")}


class SpinnakerError(RuntimeError):
    pass


def core_file(core: int) -> str:
    return f"core_{core}.c"


def generate_spinnaker(qm: QuantizedModel, outdir: str | os.PathLike, cores: int | None = None,
                       budget: int = DEFAULT_BUDGET, readout: str = "auto", force: bool = False) -> tuple[Plan, list[Path]]:
    """spinnaker_files into `outdir` through hypr_edge.outputs (a user's files there are never replaced or
    removed; `force`: also into a folder hypr-edge did not write). Returns the plan and the final paths."""
    with OutputFolder(outdir, force=force) as folder:
        p, _ = spinnaker_files(qm, folder.staging, cores, budget, readout)
        return p, folder.commit()


def spinnaker_files(qm: QuantizedModel, out: Path, cores: int | None = None, budget: int = DEFAULT_BUDGET,
                    readout: str = "auto") -> tuple[Plan, list[Path]]:
    """Write core_0.c .. core_{n-1}.c (each core's data and configuration; the hidden cores in neuron order, the
    readout on the last of them or on a core of its own after them), machine.c (simulator core table and routing
    table), spin_keys.h (packets.py), the hand-written runtime and core code (firmware/spinnaker/) and the kernels
    (hypr/) that every image includes, into `out` (a new, empty folder). Only checked integers and names reach the
    templates (hypr_edge.codegen.render.check_context)."""
    if qm.eligibility_bits != 16:   # its cores keep int16 eligibilities (firmware/spinnaker/spin_hidden.h)
        raise QuantizeError(f"the SpiNNaker build stores int16 eligibilities; this model has int{qm.eligibility_bits} "
                            "ones: quantize it with --eligibility-bits 16")
    p = plan(qm, cores, budget, readout)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env, ctx = _env(), template_context(qm)
    jumps = draw_offsets(p)
    w = np.asarray(qm.w)
    common = dict(ctx, n_hidden_cores=int(p.k), n_cores=int(p.n_cores), core_n0=[int(v) for v in p.n0])
    paths = []
    for c in range(p.n_cores):
        start, nxt = jumps[c]
        hidden, ro = c < p.k, c == p.readout_core
        a, b = (int(p.n0[c]), int(p.n0[c + 1])) if hidden else (0, 0)
        cx = dict(common, core=c, hidden=bool(hidden), readout=bool(ro),
                  spike_remote=bool(hidden and p.spike_dest(c) > 0),
                  updates=bool(ro or (hidden and qm.learn == "all")), jump_start=[int(v) for v in xorshift32_jump(start)],
                  jump_next=[int(v) for v in xorshift32_jump(nxt)], n0=a, nl=b - a, w=w[a:b],
                  kconsts={n: v[a:b] for n, v in ctx["kconsts"].items()})
        check_context(cx)
        paths.append(out / core_file(c))
        paths[-1].write_text(env.get_template("spinnaker/core.c.j2").render(**cx))
    routes = [{"key": int(r.key), "mask": int(r.mask), "dest": int(r.dest), "what": r.what} for r in p.routes()]
    machine = dict(common, routes=routes)
    check_context(machine)
    paths.append(out / "machine.c")
    paths[-1].write_text(env.get_template("spinnaker/machine.c.j2").render(**machine))
    paths.append(out / "spin_keys.h")
    paths[-1].write_text(packets.c_header())
    for name in RUNTIME_FILES:
        shutil.copy(FIRMWARE_DIR / name, out / name)
        paths.append(out / name)
    return p, paths + copy_kernels(out)


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SpinnakerError(f"{' '.join(cmd)} failed:\n{r.stderr[:4000]}")


def build_sim(outdir: str | os.PathLike, n_cores: int, cflags: tuple[str, ...] = HOST_CFLAGS) -> Path:
    """gcc: every core image as its own object (its statics stay its own; c_main and the descriptor renamed per
    core), the machine table and the simulator, linked into one executable."""
    if shutil.which("gcc") is None:
        raise SpinnakerError("gcc not found")
    out = Path(outdir)
    objs = []
    for c in range(n_cores):
        obj = out / f"core_{c}.o"
        _run(["gcc", *cflags, f"-I{out}", f"-Dc_main=c_main_{c}", f"-DSPIN_CORE=spin_core_{c}", "-c", "-o",
              str(obj), str(out / core_file(c))])
        objs.append(str(obj))
    exe = out / "spin_sim"
    _run(["gcc", *cflags, f"-I{out}", "-o", str(exe), *objs, str(out / "machine.c"), str(out / "spin_sim.c")])
    return exe


def run_sim(exe, qm: QuantizedModel, streams, workdir=None, stats: bool = False):
    """Run input streams (codegen.verify.Stream) on the simulator; returns the traces (as read_trace) and, with
    `stats`, the per-core packet counts {core: {sent, received, max_sent_per_step}}, 'steps', 'host'."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        inp, outp, st = Path(tmp) / "in.bin", Path(tmp) / "out.bin", Path(tmp) / "stats.txt"
        write_input(inp, qm, streams)
        r = subprocess.run([str(exe), str(inp), str(outp), str(st)], capture_output=True, text=True)
        if r.returncode != 0:
            raise SpinnakerError(f"spin_sim failed ({r.returncode}): {r.stderr.strip()[:2000]}")
        traces = read_trace(outp, qm)
        counts = _parse_stats(st.read_text()) if stats else None
    return (traces, counts) if stats else traces


def _parse_stats(text: str) -> dict:
    out: dict = {"cores": {}}
    for line in text.splitlines():
        f = line.split()
        if f[0] == "steps":
            out["steps"] = int(f[1])
        elif f[0] == "host":
            out["host"] = int(f[2])
        else:
            out["cores"][f[1]] = {f[i]: int(f[i + 1]) for i in range(2, len(f), 2)}
    return out


def arm_sizes(outdir: str | os.PathLike, n_cores: int) -> dict[str, list[dict[str, int]]] | None:
    """Compile each core image (-Os) for ARM968 (-marm) and Cortex-M4F; text/data/bss per core from
    arm-none-eabi-size. None when the toolchain is missing."""
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size")):
        return None
    out = Path(outdir)
    res = {}
    for arch, flags in ARCHES.items():
        res[arch] = []
        for c in range(n_cores):
            obj = out / f"core_{c}.{arch}.o"
            _run(["arm-none-eabi-gcc", "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", *flags, f"-I{out}", "-c",
                  "-o", str(obj), str(out / core_file(c))])
            line = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True,
                                  text=True).stdout.splitlines()[1]
            text, data, bss = (int(v) for v in line.split()[:3])
            res[arch].append({"text": text, "data": data, "bss": bss})
    return res


@dataclass
class Report:
    plan: Plan
    arm: dict | None

    def text(self) -> str:
        p, qm = self.plan, self.plan.qm
        syn = qm.n_hidden * qm.n_in + (qm.n_hidden ** 2 if qm.recurrent else 0) + qm.n_out * qm.n_hidden
        where = f"on core {p.readout_core}" if p.shared else "on a core of its own"
        lines = [f"spinnaker: {p.n_cores} core(s): {p.k} hidden, the readout {where}; budget {p.budget} B per core",
                 f"  routing table: {len(p.routes())} entries"]
        total = 0
        for c in range(p.n_cores):
            parts = p.data_bytes(c)
            name = p.name(c) + (f" (neurons {p.n0[c]}..{p.n0[c + 1] - 1})" if c < p.k else "")
            line = f"  core {c} {name}: data {sum(parts.values())} B (" + ", ".join(
                f"{k} {v}" for k, v in parts.items()) + ")"
            if self.arm:
                for arch, sizes in self.arm.items():
                    s = sizes[c]
                    used = s["text"] + s["data"] + s["bss"]
                    line += f"\n      {arch}: text {s['text']} B + data {s['data'] + s['bss']} B = {used} B " \
                            f"({100 * used / p.budget:.0f}% of budget)"
                total += sum(self.arm["arm968"][c].values())
            else:
                total += sum(parts.values())
            lines.append(line)
        lines.append(f"  synapses {syn}: {total / syn:.2f} B per synapse all-in"
                     + (" (ARM968 code + data, all cores)" if self.arm else " (data, all cores)"))
        return "\n".join(lines)


def run(args) -> int:
    """`hypr-edge generate --target spinnaker`: everything (images, simulator build, report) is made in a staging
    folder and moved into args.out only when all of it succeeded (hypr_edge.outputs)."""
    try:
        qm = load_model(args)
        with OutputFolder(args.out, force=getattr(args, "force", False)) as folder:
            stage = folder.staging
            p, _ = spinnaker_files(qm, stage, args.cores, int(args.core_kb * 1024))
            if args.build:
                build_sim(stage, p.n_cores)
            report = Report(p, arm_sizes(stage, p.n_cores))
            (stage / "memory.txt").write_text(report.text() + "\n")
            paths = folder.commit()
    except (QuantizeError, PartitionError, SpinnakerError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    for path in paths:
        if path.suffix != ".o" and path.name != "memory.txt":
            print(f"wrote {path}")
    if args.build:
        print(f"built {Path(args.out) / 'spin_sim'}")
    print(report.text())
    return 0
