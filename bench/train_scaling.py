"""Training steps per second in 1 and 2 processes (torchrun, gloo, data parallel: hypr_edge/distributed.py) and the
peak memory of each process, BPTT and HYPR, at the Spiking Heidelberg Digits size: BRF 700 -> 256 -> 20, T = 250,
batch 32, inputs 2 % spikes.

Each configuration is one torchrun launch; a step is the training loop's own (hypr_edge.train.batch_gradients: each
process's share of the batch, all-reduced; gradient clipping; Adam; the BRF projection). Timed after one warm-up
step, between barriers. Memory: each process's peak resident set (VmHWM) over the whole launch.
Usage: python bench/train_scaling.py [--steps 6] [--methods bptt,hypr]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_IN, HIDDEN, N_OUT, STEPS, BATCH, DENSITY = 700, 256, 20, 250, 32, 0.02


def worker(args) -> None:
    import numpy as np
    import torch
    import torch.distributed as dist

    from hypr_edge.distributed import start, stop
    from hypr_edge.tasks.base import Dataset
    from hypr_edge.train import TrainConfig, batch_gradients, new_model, param_groups, project_parameters

    torch.set_num_threads(args.threads)
    world = start(torch.device("cpu"))
    rng = np.random.default_rng(0)
    x = (rng.random((BATCH, STEPS, N_IN)) < DENSITY).astype(np.float32)
    y = rng.integers(0, N_OUT, BATCH)
    data = Dataset("synthetic-shd", x, y, x[:1], y[:1], N_OUT, None, "SHD-sized spikes")
    cfg = TrainConfig(neuron="brf", method=args.method, chunk=32, hidden=[HIDDEN], batch_size=BATCH)
    model = new_model(cfg, data)
    opt = torch.optim.Adam(param_groups(model, cfg, data), lr=cfg.lr)
    params = dict(model.named_parameters())
    idx = np.arange(BATCH)

    def step():
        _, grads = batch_gradients(model, data, cfg, idx, world)
        for name, g in grads.items():
            params[name].grad = g
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        project_parameters(model)

    step()
    if world.size > 1:
        dist.barrier()
    start_time = time.perf_counter()
    for _ in range(args.steps):
        step()
    if world.size > 1:
        dist.barrier()
    seconds = time.perf_counter() - start_time
    with open("/proc/self/status") as fh:
        peak = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    peaks = [None] * world.size
    if world.size > 1:
        dist.all_gather_object(peaks, peak)
    else:
        peaks = [peak]
    if world.is_main:
        Path(args.out).write_text(json.dumps({"steps_per_second": args.steps / seconds, "peak_bytes": peaks}))
    stop(world)


def launch(method: str, processes: int, threads: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        f"--nproc_per_node={processes}", __file__, "--worker", "--method", method,
                        "--threads", str(threads), "--steps", str(steps), "--out", str(out)],
                       check=True, env=env, capture_output=True, text=True)
        return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="timed optimizer steps per configuration (default 6)")
    ap.add_argument("--methods", default="bptt,hypr")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    setups = [(1, 1), (1, 2), (2, 1)]   # (processes, torch threads per process)
    print(f"BRF {N_IN} -> {HIDDEN} -> {N_OUT}, T = {STEPS}, batch {BATCH} (split over the processes), "
          f"inputs {DENSITY:.0%} spikes, HYPR lambda = 32; {os.cpu_count()} CPU cores; {args.steps} timed steps")
    print("| method | processes x threads | steps / s | peak memory per process |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        for processes, threads in setups:
            r = launch(method, processes, threads, args.steps)
            memory = " / ".join(f"{b / 2 ** 20:.0f} MiB" for b in r["peak_bytes"])
            name = "BPTT" if method == "bptt" else "HYPR λ=32"
            print(f"| {name} | {processes} x {threads} | {r['steps_per_second']:.2f} | {memory} |", flush=True)


if __name__ == "__main__":
    main()
