"""Firmware costs of a BRF network on Cortex-M (QEMU): flash, RAM, bytes per synapse, worst-case stack, and
deterministic instructions per time step for inference, HYPR learning at lambda = 8, 32, 128 and the
step-by-step forward rule (lambda = 1).

    python bench/firmware.py [--hidden 64] [--inputs 16] [--boards mps2-an386,mps2-an385]

Instruction counts: QEMU runs with -icount shift=0 (one instruction = 1 ns of virtual time) and the firmware
counts SysTick ticks (core clock) over a TIMING run of whole buffers of steps, started on a tick edge, so
instructions = ticks * 1e9 / tick_hz, within one tick (40 instructions on mps2, ~6 on netduinoplus2) per run
of hundreds of steps. Learning runs put a label on every step; their cost includes the chunk updates.

The chunk update sums a spike column only over the steps where it is 1, so its cost grows with the spike rate
(printed, hidden spikes per neuron and step, measured in one more learning run at lambda = 32). The random
network of the main table hardly spikes; a second one with the same sizes and 60x the weight scale (a few % of
spikes) is measured at lambda = 32 as the "active" row.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hypr_edge import firmware as fw  # noqa: E402
from hypr_edge.fixed.quantize import quantize  # noqa: E402
from hypr_edge.fixed.random_models import random_qmodel, random_spec  # noqa: E402
from hypr_edge.run import QemuSession  # noqa: E402

LAMBDAS = (8, 32, 128)
TARGET_OF = {b: s.cpu for b, s in fw.BOARDS.items()}


def insns_per_step(dev, x: np.ndarray, learn: bool, repeats: int = 2) -> float:
    """Mean instructions per step over `repeats` TIMING runs of the whole input buffer."""
    info = dev.info
    n = min(info.buf_steps, len(x))
    dev.load_input(0, x[:n])
    dev.reset()
    ticks = sum(dev.run(0, n, learn=learn, label=(i % info.n_out) if learn else -1, timing=True).ticks
                for i in range(repeats))
    return ticks * 1e9 / dev.stats().tick_hz / (n * repeats)


def spike_rate(dev, x: np.ndarray, hidden: int) -> float:
    """Hidden spikes per neuron and step in one more (recorded) learning run of the input buffer."""
    info = dev.info
    n = min(info.buf_steps, len(x))
    return dev.run(0, n, learn=True, label=0, timing=False).spikes / (n * hidden)


def active_qmodel(n_in: int, hidden: int, n_out: int, lam: int, learn: str):
    """The same sizes with 60x the weight scale: a network that spikes (a few % per neuron and step)."""
    rng = np.random.default_rng(1)
    spec = random_spec(rng, "brf", n_in, hidden, n_out, True, weight_scale=60.0)
    return quantize(spec, calib_x=(rng.random((4, 24, n_in)) < 0.3).astype(float), chunk=lam, learn=learn,
                    lr=0.05)


def measure(board: str, n_in: int, hidden: int, n_out: int, learn: str, workdir: Path, progress) -> dict:
    rng = np.random.default_rng(0)
    x = None
    row = {"board": board}
    builds = [(lam, random_qmodel(np.random.default_rng(1), "brf", n_in, hidden, n_out, True, lam, learn), "")
              for lam in (1, *LAMBDAS)]
    builds.append((LAMBDAS[1], active_qmodel(n_in, hidden, n_out, LAMBDAS[1], learn), "active_"))
    for lam, qm, key in builds:
        if x is None:
            x = qm.quantize_inputs((rng.random((256, n_in)) < 0.3).astype(float)).astype(np.int16)
        folder = fw.write_firmware(workdir / f"{board}-{key}l{lam}", target=TARGET_OF[board], board=board, qmodel=qm)
        elf = fw.build(folder, board)
        with QemuSession(elf, board) as q:
            dev = q.connect(timeout=20)
            if lam == LAMBDAS[1]:  # sizes, inference and spike rate at the reference lambda
                if not key:
                    mem = fw.memory_report(elf)
                    syn = hidden * (n_in + 1 + hidden) + n_out * (hidden + 1)
                    row.update(flash=mem["flash"], ram=mem["ram"], bps=mem["ram"] / syn,
                               stack=fw.worst_stack(elf, elf.parent))
                row[f"{key}infer"] = insns_per_step(dev, x, learn=False)
            row[f"{key}learn{lam}"] = insns_per_step(dev, x, learn=True)
            if lam == LAMBDAS[1]:
                row[f"{key}rate"] = spike_rate(dev, x, hidden)
            q.stop(dev)
            dev.close()
        progress.update(1)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--outputs", type=int, default=4)
    ap.add_argument("--boards", default="mps2-an386,mps2-an385,mps2-an500")
    ap.add_argument("--learn", choices=("all", "readout"), default="all", help="what learns on the device")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    boards = args.boards.split(",")
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=len(boards) * (2 + len(LAMBDAS)), desc="builds") as bar:
        rows = [measure(b, args.inputs, args.hidden, args.outputs, args.learn, Path(tmp), bar) for b in boards]
    lam = LAMBDAS[1]
    print(f"\nBRF {args.inputs}-{args.hidden}-{args.outputs}, recurrent, "
          f"{'hidden and readout' if args.learn == 'all' else 'readout'} learning; sizes at lambda = {lam}; "
          f"instructions per time step; spikes per hidden neuron and step at lambda = {lam}")
    head = (f"{'board':<14}{'flash B':>9}{'RAM B':>9}{'RAM B/syn':>10}{'stack B':>8}{'spikes':>8}{'infer':>9}"
            + "".join(f"{'HYPR l=' + str(k):>12}" for k in LAMBDAS) + f"{'fwd l=1':>10}{'l=32/inf':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['board']:<14}{r['flash']:>9}{r['ram']:>9}{r['bps']:>10.2f}{r['stack']:>8}{r['rate']:>8.3f}"
              f"{r['infer']:>9.0f}" + "".join(f"{r[f'learn{k}']:>12.0f}" for k in LAMBDAS)
              + f"{r['learn1']:>10.0f}{r[f'learn{lam}'] / r['infer']:>10.2f}")
    print(f"\nactive network (weights x 60), lambda = {lam}:")
    head = f"{'board':<14}{'spikes':>8}{'infer':>9}{'HYPR l=' + str(lam):>12}{'l=32/inf':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['board']:<14}{r['active_rate']:>8.3f}{r['active_infer']:>9.0f}{r[f'active_learn{lam}']:>12.0f}"
              f"{r[f'active_learn{lam}'] / r['active_infer']:>10.2f}")
    worst = max(max(r[f"learn{lam}"] / r["infer"], r[f"active_learn{lam}"] / r["active_infer"]) for r in rows)
    print(f"\ngoal: HYPR learning at lambda = {lam} <= 2x inference per step: "
          f"{'met' if worst <= 2 else 'NOT met'} (worst {worst:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
