"""Test accuracy of the neuron models trained with BPTT and with HYPR on the built-in tasks.

Usage: python bench/accuracy.py [--epochs N] [--tasks resonance,digits] [--models brf,alif,lif] [--jobs 2]
(--models defaults to every registered neuron model; docs/training.md's figures: --models brf,alif,lif)
Each (task, model, method) trains from the same initial network and data order; runs go in parallel processes.
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

from tqdm import tqdm


def one(job):
    import torch
    from hypr_edge.tasks import load_task
    from hypr_edge.train import TrainConfig, new_model, train
    torch.set_num_threads(1)
    task, neuron, method, epochs, hidden, chunk, seed = job
    data = load_task(task, seed=seed)
    cfg = TrainConfig(neuron=neuron, method=method, chunk=chunk, hidden=[hidden], epochs=epochs, seed=seed,
                      lr=2e-2)
    metrics = train(new_model(cfg, data), data, cfg, progress=False)
    return job, metrics["test_accuracy"], metrics["seconds"]


def main() -> None:
    from hypr_edge.neurons import NEURONS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="resonance,digits")
    ap.add_argument("--models", default=",".join(NEURONS), help="neuron models, comma-separated (default: all)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="parallel training processes (default 2)")
    args = ap.parse_args()
    jobs = [(t, m, meth, args.epochs, args.hidden, args.chunk, args.seed)
            for t in args.tasks.split(",") for m in args.models.split(",") for meth in ("bptt", "hypr")]
    results = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for job, acc, sec in tqdm(pool.map(one, jobs), total=len(jobs), desc="accuracy"):
            results[job[:3]] = (acc, sec)
    print(f"\ntest accuracy, {args.epochs} epochs, {args.hidden} hidden, HYPR chunk {args.chunk}, seed {args.seed}")
    print("| task | model | BPTT | HYPR | HYPR - BPTT | seconds (BPTT / HYPR) |")
    print("|---|---|---|---|---|---|")
    for t in args.tasks.split(","):
        for m in args.models.split(","):
            (ab, sb), (ah, sh) = results[(t, m, "bptt")], results[(t, m, "hypr")]
            print(f"| {t} | {m.upper()} | {ab:.1%} | {ah:.1%} | {100 * (ah - ab):+.1f} pp | {sb:.0f} / {sh:.0f} |")
    print(json.dumps({f"{k[0]}/{k[1]}/{k[2]}": v[0] for k, v in results.items()}))


if __name__ == "__main__":
    main()
