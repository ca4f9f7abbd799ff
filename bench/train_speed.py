"""Seconds per training step and peak memory, BPTT vs HYPR, for BRF with 128 hidden units and batch 32.

Each configuration runs in a fresh process: peak memory is the growth of the peak resident set over a warmed-up
baseline (VmHWM, see hypr_edge/peak_memory.py), so one run's allocations cannot hide another's. Usage: python bench/train_speed.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from tqdm import tqdm

ONE = """
import json, sys, time, torch
from hypr_edge import build_model, gradients
from hypr_edge.peak_memory import peak_growth_bytes
torch.set_num_threads(int(sys.argv[4]))
method, steps, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = build_model("brf", n_inputs=16, hidden=[128], n_outputs=10, seed=0)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
params = dict(model.named_parameters())
def train_step(t):
    x = torch.randn(32, t, 16) * 40  # strong enough to make BRF spike (a few percent)
    y = torch.randint(0, 10, (32,))
    for name, g in gradients(model, x, y, method=method, chunk=chunk).items():
        params[name].grad = g
    opt.step()
train_step(64)  # warm-up: lazy initialisation and allocator arenas before the memory baseline
times = []
def timed():
    for _ in range(int(sys.argv[5])):
        start = time.perf_counter()
        train_step(steps)
        times.append(time.perf_counter() - start)
peak = peak_growth_bytes(timed)
print(json.dumps({"seconds": min(times), "peak_bytes": peak}))
"""


def measure(method, steps, chunk, threads, repeats):
    out = subprocess.run([sys.executable, "-c", ONE, method, str(steps), str(chunk), str(threads), str(repeats)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T = 250 and 1000 only, one repeat")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    args = ap.parse_args()
    lengths = [250, 1000] if args.quick else [250, 1000, 4000]
    repeats = 1 if args.quick else 2
    configs = [("bptt", 0)] + [("hypr", lam) for lam in (8, 32, 128)]
    rows = {}
    with tqdm(total=len(lengths) * len(configs), desc="train_speed") as bar:
        for steps in lengths:
            for method, chunk in configs:
                rows[(method, chunk, steps)] = measure(method, steps, chunk or steps, args.threads, repeats)
                bar.update()
    print(f"\nBRF, 128 hidden, 16 inputs, 10 outputs, batch 32, {args.threads} torch thread(s); "
          "seconds per training step (gradient + Adam) / peak memory growth in MB")
    head = "| method | " + " | ".join(f"T = {t}" for t in lengths) + " |"
    print(head)
    print("|" + "---|" * (len(lengths) + 1))
    for method, chunk in configs:
        name = "BPTT" if method == "bptt" else f"HYPR λ={chunk}"
        cells = [f"{rows[(method, chunk, t)]['seconds']:.2f} s / {rows[(method, chunk, t)]['peak_bytes'] / 1e6:.0f} MB"
                 for t in lengths]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
