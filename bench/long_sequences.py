"""Long sequences: BRF on the delayed-cue task, HYPR vs BPTT, test accuracy and peak memory per sequence length T.

Usage: nice -n 10 python bench/long_sequences.py [--lengths 1000,4000,10000] [--probe 40000,160000]
                                                 [--cap-gb 8] [--hidden 32] [--epochs 2]
1. Training: at each T, a BRF network (`--hidden` neurons, batch 32, 256 training and 128 test sequences, the
   training defaults of hypr_edge.train.TrainConfig) trains with HYPR and with BPTT, each in a fresh process;
   printed: test accuracy, seconds, and the peak memory of one training step (gradient + Adam) measured after
   training, with its input batch already in memory (the batch itself, 32 x T x 15 float32, is the data, not the
   method: 19 MB at T = 10,000).
2. Memory probes (--probe; `--lengths ""` for probes only): one training step in a fresh process that trained
   nothing before, so no training's heap history blurs the figure (after training, HYPR's figure moved between 12
   and 16 MB with no trend in T), HYPR and BPTT, until BPTT's memory, extrapolated linearly from the lengths
   measured before, would exceed --cap-gb. Every BPTT process also runs under an address-space limit
   (RLIMIT_DATA) of cap + 1 GB, so a wrong estimate fails with an allocation error instead of exhausting the machine.
Every run has glibc's mmap threshold fixed at 64 KiB (MALLOC_MMAP_THRESHOLD_): by default glibc raises it each time
a large block is freed, after which the chunks' freed buffers stay in the heap and the resident set holds some of
the allocator's free memory too, by an amount that varies from run to run (the allocator's policy, not memory the
method holds); --default-malloc measures without the fixed threshold.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from tqdm import tqdm

ONE = """
import json, resource, sys, time
args = json.loads(sys.argv[1])
if args["limit"]:
    resource.setrlimit(resource.RLIMIT_DATA, (args["limit"], args["limit"]))
import dataclasses
import numpy as np, torch
from hypr_edge import gradients
from hypr_edge.peak_memory import peak_growth_bytes
from hypr_edge.tasks import load_task
from hypr_edge.train import TrainConfig, new_model, param_groups, train
torch.set_num_threads(1)
T, training = args["steps"], args["epochs"] > 0
data = load_task("cue", steps=T, seed=args["seed"], n_train=256 if training else 32, n_test=128 if training else 2)
cfg = TrainConfig(neuron="brf", method=args["method"], chunk=args["chunk"], hidden=[args["hidden"]],
                  epochs=max(1, args["epochs"]), seed=args["seed"])
if args["generic_init"]:   # the neuron model's generic initialisation: the task's memory span ignored
    data = dataclasses.replace(data, memory=None)
model = new_model(cfg, data)
if args["uncapped_lr"]:    # memory-aware initialisation, but no learning-rate cap for what acts at every step
    data = dataclasses.replace(data, memory=None)
out = {}
if training:
    metrics = train(model, data, cfg, progress=False)
    out.update(accuracy=metrics["test_accuracy"], seconds=metrics["seconds"])
opt = torch.optim.Adam(param_groups(model, cfg, data), lr=cfg.lr)
params = dict(model.named_parameters())
x, y = torch.as_tensor(data.x_train[:32]), torch.as_tensor(data.y_train[:32])
def step(xb):
    for name, g in gradients(model, xb, y, method=cfg.method, chunk=cfg.chunk, loss_steps=data.loss_steps).items():
        params[name].grad = g
    opt.step()
step(x[:, :100])  # warm-up: lazy initialisation, Adam's state and allocator arenas before the baseline
start = time.perf_counter()
out["peak_bytes"] = peak_growth_bytes(lambda: step(x))
out["step_seconds"] = time.perf_counter() - start
print(json.dumps(out))
"""


def measure(method: str, steps: int, args, epochs: int) -> dict:
    """One run in a fresh process; {"error": ...} if it ran out of its memory limit."""
    job = {"method": method, "steps": steps, "epochs": epochs, "hidden": args.hidden, "chunk": args.chunk,
           "seed": args.seed, "generic_init": args.generic_init, "uncapped_lr": args.uncapped_lr, "limit": int((args.cap_gb + 1) * 1e9) if method == "bptt" else 0}
    env = dict(os.environ) if args.default_malloc else dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    proc = subprocess.run([sys.executable, "-c", ONE, json.dumps(job)], capture_output=True, text=True, env=env)
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
        return {"error": last[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def extrapolate(points: dict[int, float], steps: int) -> float:
    """Linear fit through the two longest measured lengths (memory of BPTT grows linearly in T)."""
    (t0, m0), (t1, m1) = sorted(points.items())[-2:]
    return m1 + (m1 - m0) / (t1 - t0) * (steps - t1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="1000,4000,10000", help="T trained and tested (default 1000,4000,10000)")
    ap.add_argument("--probe", default="40000,160000", help="longer T, one training step (memory only)")
    ap.add_argument("--cap-gb", type=float, default=8.0, help="BPTT runs only where its estimate stays below (GB)")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="hypr,bptt", help="which to run (default hypr,bptt)")
    ap.add_argument("--generic-init", action="store_true", help="analysis: ignore the task's memory span")
    ap.add_argument("--default-malloc", action="store_true",
                    help="glibc's default (dynamic) mmap threshold: memory then includes the heap it retains")
    ap.add_argument("--uncapped-lr", action="store_true",
                    help="analysis: no learning-rate cap for the neuron parameters and the bias")
    args = ap.parse_args()
    lengths = [int(t) for t in args.lengths.split(",") if t]
    probes = [int(t) for t in args.probe.split(",") if t]
    cap = args.cap_gb * 1e9
    methods = [m for m in ("hypr", "bptt") if m in args.methods.split(",")]
    not_run = {"not run": True}
    rows, bptt_mem = {}, {}
    with tqdm(total=len(methods) * (len(lengths) + len(probes)), desc="long_sequences") as bar:
        for steps in lengths + probes:
            epochs = args.epochs if steps in lengths else 0
            rows[("hypr", steps)] = measure("hypr", steps, args, epochs) if "hypr" in methods else not_run
            if "bptt" not in methods:
                rows[("bptt", steps)] = not_run
            elif len(bptt_mem) >= 2 and extrapolate(bptt_mem, steps) > cap:
                rows[("bptt", steps)] = {"skipped": extrapolate(bptt_mem, steps)}
            else:
                rows[("bptt", steps)] = measure("bptt", steps, args, epochs)
                if "peak_bytes" in rows[("bptt", steps)]:
                    bptt_mem[steps] = rows[("bptt", steps)]["peak_bytes"]
            bar.update(len(methods))

    def memory(r: dict) -> str:
        if "not run" in r:
            return "—"
        if "skipped" in r:
            return f"does not fit: ~{r['skipped'] / 1e9:.1f} GB expected > {args.cap_gb:g} GB cap"
        if "error" in r:
            return f"failed: {r['error']}"
        return f"{r['peak_bytes'] / 1e6:.0f} MB"

    analysis = " ".join(f for f, on in (("--generic-init", args.generic_init), ("--uncapped-lr", args.uncapped_lr)) if on)
    print(f"\ndelayed cue, BRF {args.hidden} hidden, batch 32, 256 train / 128 test sequences, {args.epochs} epochs "
          f"({8 * args.epochs} Adam steps), the training defaults{' with ' + analysis if analysis else ''}, HYPR chunk "
          f"{args.chunk}, seed {args.seed}, 1 torch thread; memory = peak growth of one training step with its input "
          "batch in memory" + (" (glibc's default mmap threshold)" if args.default_malloc else
                                " (glibc's mmap threshold fixed at 64 KiB)"))
    print("| T | HYPR accuracy | HYPR memory | HYPR seconds | BPTT accuracy | BPTT memory | BPTT seconds |")
    print("|---|---|---|---|---|---|---|")
    for steps in lengths:
        h, b = rows[("hypr", steps)], rows[("bptt", steps)]
        cells = []
        for r in (h, b):
            ok = "accuracy" in r
            cells += [f"{r['accuracy']:.1%}" if ok else "—", memory(r), f"{r['seconds']:.0f}" if ok else "—"]
        print(f"| {steps:,} | " + " | ".join(cells) + " |")
    if probes:
        print("\nmemory only (one training step):")
        print("| T | HYPR memory | BPTT memory |")
        print("|---|---|---|")
        for steps in probes:
            print(f"| {steps:,} | {memory(rows[('hypr', steps)])} | {memory(rows[('bptt', steps)])} |")
    for what, ts in (("after training", lengths), ("one step in a fresh process", probes)):
        hypr = [rows[("hypr", t)].get("peak_bytes") for t in ts]
        if len(ts) > 1 and all(hypr):
            print(f"\nHYPR memory ({what}) at T = {ts[-1]:,} vs T = {ts[0]:,}: {100 * (hypr[-1] / hypr[0] - 1):+.1f} %"
                  f" (largest over the T in between: {100 * (max(hypr) / hypr[0] - 1):+.1f} %)")
    print(json.dumps({f"{m}/{t}": r for (m, t), r in rows.items()}))


if __name__ == "__main__":
    main()
