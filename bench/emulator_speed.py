"""Emulator speed next to the compiled host C (issue 13): steps per second of the NumPy emulator
(hypr_edge/fixed/emulator.py) and of the C library built at -O2, on random BRF models (recurrent, learning all
weights) of sizes 16-64-4 and 80-120-12, for three workloads:
  - batch-1 learning at lambda = 8 and lambda = 32 (one stream, SGD after every chunk);
  - batch-64 inference (emulator: 64 streams in one batch; C: the 64 streams one after another).
C figures: the host harness's own timing (`hypr_harness IN OUT --time`: inputs read first, only the step loop
timed with clock(), no traces), as bench/fixed_point.py section 3 does. Emulator: Emulator.run with no traces kept,
timed with time.process_time() (CPU time, like the C's clock(): steadier than wall time on a shared machine),
best of --repeats runs (default 3; the C: the same). Both run the same inputs (20 % of the inputs spiking) and
labels. Usage: python bench/emulator_speed.py [--steps N] [--sizes 16-64-4,80-120-12] [--repeats R]
(about a minute on 2 cores at R = 3); --profile: cProfile of batch-1 learning at the first size instead."""
from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from hypr_edge.codegen.build import build_host
from hypr_edge.codegen.verify import Stream, write_input
from hypr_edge.fixed.emulator import Emulator, stream_seed
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.targets.registry import generate

BATCH = 64


def c_steps_per_s(qm, x, y, learn: bool, workdir: Path, repeats: int = 3) -> float:
    """Stream-steps per second of the -O2 host harness running the streams of x one after another (best of
    `repeats`)."""
    folder = workdir / f"l{qm.chunk}"
    if not (folder / "hypr_harness").exists():
        generate(qm, folder)
        build_host(folder, cflags=("-O2", "-std=c99"))
    inp = folder / "in.bin"
    write_input(inp, qm, [Stream(x[k], y[k], learn, stream_seed(qm.seed, k)) for k in range(len(x))])
    best = float("inf")
    for _ in range(repeats):
        out = subprocess.run([str(folder / "hypr_harness"), str(inp), str(folder / "out.bin"), "--time"],
                             capture_output=True, text=True, check=True).stdout.split()
        best = min(best, float(out[1]))
    return x.shape[0] * x.shape[1] / max(best, 1e-9)


def emulator_steps_per_s(qm, x, y, learn: bool, repeats: int = 3) -> float:
    """Stream-steps per second of Emulator.run (best of `repeats`, a fresh emulator each time)."""
    best = float("inf")
    for _ in range(repeats):
        seeds = [stream_seed(qm.seed, k) for k in range(len(x))]
        emu = Emulator(qm, batch=len(x), learn=learn, seeds=seeds)
        t = time.process_time()
        emu.run(x, y if learn else None, keep=())
        best = min(best, time.process_time() - t)
    return x.shape[0] * x.shape[1] / best


def size_rows(size: tuple[int, int, int], steps: int, workdir: Path, repeats: int = 3):
    n_in, hidden, n_out = size
    rng = np.random.default_rng(0)
    workloads = (("learn  lambda=8 ", 8, 1), ("learn  lambda=32", 32, 1), (f"infer  batch={BATCH}", 8, BATCH))
    for name, lam, batch in workloads:
        qm = random_qmodel(np.random.default_rng(1), "brf", n_in, hidden, n_out, True, lam, "all")
        T = steps if batch == 1 else max(2 * lam, steps // 4)
        x = qm.quantize_inputs((rng.random((batch, T, n_in)) < 0.2).astype(float))
        y = rng.integers(0, n_out, (batch, T))
        learn = batch == 1
        emu = emulator_steps_per_s(qm, x, y, learn, repeats)
        c = c_steps_per_s(qm, x, y, learn, workdir / f"{n_in}-{hidden}-{n_out}", repeats)
        yield name, emu, c


def profile(size: tuple[int, int, int], steps: int) -> None:
    """--profile: where batch-1 learning (lambda = 8) spends its time, cProfile's top functions (CPU time)."""
    import cProfile
    import pstats
    n_in, hidden, n_out = size
    qm = random_qmodel(np.random.default_rng(1), "brf", n_in, hidden, n_out, True, 8, "all")
    rng = np.random.default_rng(0)
    x = qm.quantize_inputs((rng.random((1, steps, n_in)) < 0.2).astype(float))
    y = rng.integers(0, n_out, (1, steps))
    emu = Emulator(qm, learn=True, seeds=[stream_seed(qm.seed, 0)])
    pr = cProfile.Profile(time.process_time)
    pr.runcall(emu.run, x, y, keep=())
    print(f"{'-'.join(map(str, size))}, batch-1 learning at lambda = 8, {steps} steps under cProfile:")
    pstats.Stats(pr).sort_stats("cumulative").print_stats(16)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=800, help="steps per batch-1 stream (batch 64: a quarter)")
    ap.add_argument("--sizes", default="16-64-4,80-120-12", help="comma-separated n_in-hidden-n_out sizes")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each side; the best counts")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the table: cProfile of batch-1 learning (lambda = 8) at the first size")
    args = ap.parse_args()
    try:
        sizes = [tuple(int(v) for v in s.split("-")) for s in args.sizes.split(",")]
        if any(len(s) != 3 or min(s) < 1 for s in sizes) or args.steps < 1 or args.repeats < 1:
            raise ValueError
    except ValueError:
        raise SystemExit(f"bad --sizes {args.sizes!r}, --steps {args.steps} or --repeats {args.repeats}: sizes are "
                         "n_in-hidden-n_out, all positive") from None
    if args.profile:
        profile(sizes[0], args.steps)
        return
    print("BRF, recurrent, learning all weights; stream-steps per second (C: host gcc -O2, streams one after another)")
    print(f"{'size':<11} {'workload':<17} {'emulator':>10} {'C':>10} {'C/emulator':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for name, emu, c in size_rows(size, args.steps, Path(tmp), args.repeats):
                print(f"{'-'.join(map(str, size)):<11} {name:<17} {emu:>10,.0f} {c:>10,.0f} {c / emu:>11.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
