"""Firmware costs of BRF networks on Cortex-M (QEMU): flash, RAM, bytes per synapse, worst-case stack, and
deterministic instructions per time step for inference, HYPR learning at lambda = 8, 32, 128 and the
step-by-step forward rule (lambda = 1), with instructions per needed multiply-accumulate.

    python bench/firmware.py [--sizes 16-64-4,80-120-12] [--boards mps2-an385,mps2-an386,mps2-an500]
    python bench/firmware.py --active-only --sizes 80-120-12 --boards mps2-an386 --keep /tmp/fw   # while iterating
    python bench/firmware.py --profile --sizes 80-120-12 --boards mps2-an386    # where learning's instructions go
    python bench/firmware.py --profile --store-states --sizes 80-120-12 --boards mps2-an386   # the same, stored states

Instruction counts: QEMU runs with -icount shift=0 (one instruction = 1 ns of virtual time) and the firmware
counts SysTick ticks (core clock) over TIMING runs, so instructions = ticks * 1e9 / tick_hz, within one tick (40
instructions on mps2) per run. Every figure is timed over STEPS = 256 steps from a reset state, i.e. whole chunks
at every lambda (256 is a multiple of each), fed through the device's input buffer in as many runs as it takes.
Learning runs put a label on every step; their cost includes every chunk update of the 256 steps.

Needed MACs: the multiply-accumulates a step strictly needs, counted from the spikes the device actually
produced in a recorded inference run of the same 256 steps: every input (all n_in of them, zero or not: a dense
sensor stream's current needs each input) and the bias for each hidden neuron, one recurrent column per neuron
that spiked at the previous step, and for each output the bias and one column per neuron that spiked at this
step: N (n_in + 1) + N S_{t-1} + C (S_t + 1). "insn/MAC" = inference instructions / needed MACs.

--profile: per function of the firmware, the instructions of one chunk (32 learning steps and its update) of the
active network at lambda = 32, from QEMU's log of every executed translation block
(-d in_asm,exec,nochain: each block's instruction count times its executions; the log is large and QEMU slow).

The chunk update and the event-driven step cost more when neurons spike. The random network of each size
("quiet") hardly spikes; a second one with the same sizes and 60x the weight scale ("active", a few % of spikes
per neuron and step) is measured at lambda = 32 too.
"""
from __future__ import annotations

import argparse
import bisect
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hypr_edge.targets import cortex_m as fw  # noqa: E402
from hypr_edge.fixed.quantize import quantize  # noqa: E402
from hypr_edge.fixed.random_models import random_qmodel, random_spec  # noqa: E402
from hypr_edge.qemu import QemuSession  # noqa: E402
from hypr_edge.targets.boards import BOARDS  # noqa: E402

LAMBDAS = (8, 32, 128)
REF = 32                      # the reference chunk length: sizes, inference, the active network, the ratio
STORED = ("HYPR_STORE_STATES=1",)   # the build option: chunk states stored (RAM) instead of replayed (instructions)
PROFILE_BLOCKS = 12           # --profile: the hottest translation blocks listed
STEPS = 256                   # timed steps per figure: whole chunks at every lambda of LAMBDAS and 1
TARGET_OF = {b: s.cpu for b, s in BOARDS.items()}


def timed_steps(dev, x: np.ndarray, learn: bool) -> tuple[float, int, int]:
    """Run x (STEPS, n_in) from a reset state through the input buffer, TIMING. Returns (instructions per step,
    and for an inference run the hidden spikes of a recorded repeat of the same steps: total, last step's)."""
    per = dev.info.buf_steps
    ticks = spikes = 0
    for record in ((False,) if learn else (True, False)):
        dev.reset()
        for a in range(0, len(x), per):
            b = min(len(x), a + per)
            dev.load_input(0, x[a:b])
            r = dev.run(0, b - a, learn=learn, label=(a // per) % dev.info.n_out if learn else -1, timing=not record)
            if record:
                spikes += r.spikes
            else:
                ticks += r.ticks
        if record:
            last = int(dev.read_tensor("spikes").sum())
    insns = ticks * 1e9 / dev.stats().tick_hz / len(x)
    return (insns, spikes, last) if not learn else (insns, 0, 0)


def needed_macs(n_in: int, hidden: int, n_out: int, steps: int, spikes: int, last: int) -> int:
    """N (n_in + 1) + N S_{t-1} + C (S_t + 1) summed over the steps (S_0 = 0 after the reset)."""
    return steps * hidden * (n_in + 1) + hidden * (spikes - last) + n_out * (spikes + steps)


def active_qmodel(n_in: int, hidden: int, n_out: int, lam: int, learn: str):
    """The same sizes with 60x the weight scale: a network that spikes (a few % per neuron and step)."""
    rng = np.random.default_rng(1)
    spec = random_spec(rng, "brf", n_in, hidden, n_out, True, weight_scale=60.0)
    return quantize(spec, calib_x=(rng.random((4, 24, n_in)) < 0.3).astype(float), chunk=lam, learn=learn,
                    lr=0.05)


def measure(board: str, size: tuple[int, int, int], learn: str, workdir: Path, progress,
            active_only: bool = False) -> dict:
    n_in, hidden, n_out = size
    row = {"board": board, "size": size}
    builds = [] if active_only else [
        (lam, random_qmodel(np.random.default_rng(1), "brf", n_in, hidden, n_out, True, lam, learn), "")
        for lam in (1, *LAMBDAS)]
    builds.append((REF, active_qmodel(n_in, hidden, n_out, REF, learn), "active_"))
    if learn == "all":   # the build option that stores the chunk's forward states instead of replaying them
        builds.append((REF, builds[-1][1], "stored_"))
    x, elfs = None, {}
    for lam, qm, key in builds:
        if x is None:
            rng = np.random.default_rng(0)
            x = qm.quantize_inputs((rng.random((STEPS, n_in)) < 0.3).astype(float)).astype(np.int16)
        folder = fw.write_firmware(workdir / f"{board}-{n_in}-{hidden}-{key}l{lam}", target=TARGET_OF[board],
                                   board=board, qmodel=qm)
        elf = elfs[key] = fw.build_firmware(folder, board, defines=STORED if key == "stored_" else ())
        if key == "stored_":
            row["stored_ram"] = fw.elf_memory_use(elf)["ram"] - fw.elf_memory_use(elfs["active_"])["ram"]
        with QemuSession(elf, board) as q:
            dev = q.connect(timeout=20)
            if lam == REF and key != "stored_":  # sizes, inference and needed MACs at the reference lambda
                if not key:
                    mem = fw.elf_memory_use(elf)
                    syn = hidden * (n_in + 1 + hidden) + n_out * (hidden + 1)
                    row.update(flash=mem["flash"], ram=mem["ram"], bps=mem["ram"] / syn,
                               stack=fw.worst_stack(elf, elf.parent))
                insns, spikes, last = timed_steps(dev, x, learn=False)
                row[f"{key}infer"] = insns
                row[f"{key}rate"] = spikes / (STEPS * hidden)
                row[f"{key}macs"] = needed_macs(n_in, hidden, n_out, STEPS, spikes, last) / STEPS
            row[f"{key}learn{lam}"] = timed_steps(dev, x, learn=True)[0]
            q.stop(dev)
            dev.close()
        progress.update(1)
    return row


def profile(board: str, size: tuple[int, int, int], learn: str, workdir: Path, defines=()) -> tuple[list, list]:
    """(function, instructions per step) of one chunk of REF learning steps of the active network, from
    QEMU's translation-block log, and the PROFILE_BLOCKS hottest blocks ((function, offset in it, instructions,
    executions), instructions per step); the reset before the chunk is left out."""
    qm = active_qmodel(*size, REF, learn)
    folder = fw.write_firmware(workdir / f"profile-{board}-{'-'.join(map(str, size))}{'-stored' if defines else ''}",
                               target=TARGET_OF[board], board=board, qmodel=qm)
    elf = fw.build_firmware(folder, board, defines=defines)
    log = workdir / "qemu-exec.log"
    x = qm.quantize_inputs((np.random.default_rng(0).random((REF, size[0])) < 0.3).astype(float)).astype(np.int16)
    session = QemuSession(elf, board)
    session.cmd += ["-d", "in_asm,exec,nochain", "-D", str(log)]
    with session as q:
        dev = q.connect(timeout=60)
        dev.reset()
        start = log.stat().st_size   # QEMU may still hold some of the reset's lines: a few blocks at most
        per = dev.info.buf_steps
        for a in range(0, REF, per):
            b = min(REF, a + per)
            dev.load_input(0, x[a:b])
            dev.run(0, b - a, learn=True, label=(a // per) % dev.info.n_out)
        q.stop(dev)
        dev.close()
    syms = []
    nm = subprocess.run(["arm-none-eabi-nm", "-n", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    addrs = [a for a, _ in syms]
    size_of, runs, pc, offset = {}, collections.Counter(), None, 0
    exec_re = re.compile(rb"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    with open(log, "rb") as fh:
        for line in fh:
            offset += len(line)
            if line.startswith(b"IN:"):
                pc = None
            elif (m := re.match(rb"0x([0-9a-f]+):", line)):
                if pc is None:
                    pc = int(m.group(1), 16)
                    size_of[pc] = 0
                size_of[pc] += 1
            elif offset > start and (m := exec_re.search(line)):
                runs[int(m.group(1), 16)] += 1
    per_fn, per_block = collections.Counter(), collections.Counter()
    for block, k in runs.items():
        start_fn, name = syms[bisect.bisect_right(addrs, block) - 1]
        per_fn[name] += k * size_of.get(block, 0)
        per_block[(name, block - start_fn, size_of.get(block, 0), k)] += k * size_of.get(block, 0)
    return ([(name, v / REF) for name, v in per_fn.most_common()],
            [(key, v / REF) for key, v in per_block.most_common(PROFILE_BLOCKS)])


def parse_size(text: str) -> tuple[int, int, int]:
    try:
        n_in, hidden, n_out = (int(v) for v in text.split("-"))
    except ValueError:
        raise SystemExit(f"bad size {text!r}: expected inputs-hidden-outputs, e.g. 80-120-12")
    return n_in, hidden, n_out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16-64-4,80-120-12", help="inputs-hidden-outputs, comma-separated")
    ap.add_argument("--boards", default="mps2-an385,mps2-an386,mps2-an500")
    ap.add_argument("--learn", choices=("all", "readout"), default="all", help="what learns on the device")
    ap.add_argument("--active-only", action="store_true",
                    help=f"only the active network at lambda = {REF} (inference and learning): a quick check")
    ap.add_argument("--keep", metavar="DIR", help="build the firmware folders in DIR (kept, for disassembly)")
    ap.add_argument("--profile", action="store_true",
                    help=f"instructions per step by function of learning (active network, lambda = {REF}), instead "
                         f"of the tables")
    ap.add_argument("--store-states", action="store_true", help=f"--profile: the build with -D{STORED[0]}")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    sizes = [parse_size(s) for s in args.sizes.split(",")]
    boards = args.boards.split(",")
    unknown = [b for b in boards if b not in BOARDS]
    if unknown:
        raise SystemExit(f"unknown board(s) {', '.join(unknown)}; known: {', '.join(BOARDS)}")
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                for board in boards:
                    rows, blocks = profile(board, size, args.learn, Path(args.keep or tmp),
                                           STORED if args.store_states else ())
                    total = sum(v for _, v in rows)
                    print(f"\n{'-'.join(map(str, size))} active, {board}, learning lambda = {REF}: instructions per "
                          f"step by function (one chunk, {total:.0f} per step in all; uart_getc, hp_* and main are "
                          f"the runtime waiting for and decoding the host's commands)")
                    for name, v in rows:
                        if v >= total / 500:
                            print(f"  {v:>10.0f}  {100 * v / total:5.1f} %  {name}")
                    print("hottest blocks: instructions per step, function+offset, instructions x executions")
                    for (name, offset, n, k), v in blocks:
                        print(f"  {v:>10.0f}  {name}+{offset:#x}  {n} x {k}")
        return 0
    builds = (1 if args.active_only else 2 + len(LAMBDAS)) + (args.learn == "all")
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=len(sizes) * len(boards) * builds, desc="builds") as bar:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = [measure(b, s, args.learn, workdir, bar, args.active_only) for s in sizes for b in boards]
    if not args.active_only:
        print_quiet(rows, args.learn)
    print_active(rows)
    if not args.active_only:
        worst = max(max(r[f"learn{REF}"] / r["infer"], r[f"active_learn{REF}"] / r["active_infer"]) for r in rows)
        print(f"\ngoal: HYPR learning at lambda = {REF} <= 2x inference per step: "
              f"{'met' if worst <= 2 else 'NOT met'} (worst {worst:.2f}x)")
    return 0


def name(r: dict) -> str:
    return "-".join(map(str, r["size"]))


def print_quiet(rows: list[dict], learn: str) -> None:
    what = "hidden and readout" if learn == "all" else "readout"
    print(f"\nBRF, recurrent, {what} learning; sizes at lambda = {REF}; instructions per time step over {STEPS} steps "
          f"(whole chunks); spikes per hidden neuron and step (inference); MACs = needed MACs per step "
          f"(all inputs, bias, spiking recurrent columns, readout of spiking neurons)")
    head = (f"{'size':<11}{'board':<12}{'flash B':>8}{'RAM B':>8}{'B/syn':>7}{'stack':>6}{'spikes':>7}{'MACs':>7}"
            f"{'infer':>8}{'insn/MAC':>9}" + "".join(f"{'HYPR l=' + str(k):>11}" for k in LAMBDAS)
            + f"{'fwd l=1':>10}{'l=32/inf':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{name(r):<11}{r['board']:<12}{r['flash']:>8}{r['ram']:>8}{r['bps']:>7.2f}{r['stack']:>6}"
              f"{r['rate']:>7.3f}{r['macs']:>7.0f}{r['infer']:>8.0f}{r['infer'] / r['macs']:>9.2f}"
              + "".join(f"{r[f'learn{k}']:>11.0f}" for k in LAMBDAS)
              + f"{r['learn1']:>10.0f}{r[f'learn{REF}'] / r['infer']:>9.2f}")


def print_active(rows: list[dict]) -> None:
    print(f"\nactive networks (weights x 60), lambda = {REF}; stored = built with -D{STORED[0]} (the chunk's forward "
          f"states kept, +RAM bytes, instead of replayed)")
    stored = all("stored_ram" in r for r in rows)
    head = (f"{'size':<11}{'board':<12}{'spikes':>7}{'MACs':>7}{'infer':>8}{'insn/MAC':>9}"
            f"{'HYPR l=' + str(REF):>11}{'l=32/inf':>9}" + (f"{'stored':>9}{'/inf':>6}{'+RAM B':>8}" if stored else ""))
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{name(r):<11}{r['board']:<12}{r['active_rate']:>7.3f}{r['active_macs']:>7.0f}{r['active_infer']:>8.0f}"
              f"{r['active_infer'] / r['active_macs']:>9.2f}{r[f'active_learn{REF}']:>11.0f}"
              f"{r[f'active_learn{REF}'] / r['active_infer']:>9.2f}"
              + (f"{r[f'stored_learn{REF}']:>9.0f}{r[f'stored_learn{REF}'] / r['active_infer']:>6.2f}"
                 f"{r['stored_ram']:>8}" if stored else ""))


if __name__ == "__main__":
    sys.exit(main())
