"""Test accuracy of every neuron model trained with BPTT and with HYPR on every offline task, over several seeds.

Usage: nice -n 10 python bench/accuracy.py [--tasks resonance,digits,mnist1d,cue,fsdd] [--models all]
                                           [--seeds 0,1,2] [--jobs 2] [--results runs/bench-accuracy.json]
The neuron models come from the registry (hypr_edge.neurons.MODELS). Every (task, model, seed) trains with BPTT and
with HYPR from the same initial network and data order (the training defaults of hypr_edge.train.TrainConfig, the
per-task budget in BUDGET); each run goes in a process of its own with one torch thread. Results are merged into
--results as they come, so the bench can be run piecewise (--tasks, --models, --seeds) and --report prints the
table of everything stored. Also printed per (task, model): the cosine between the HYPR and BPTT gradients of the
whole parameter vector on 64 training sequences, at initialisation and after BPTT training (mean over the seeds).
FSDD runs when its recordings are at --fsdd (default ../shared/data/fsdd), and is skipped with a note otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("resonance", "digits", "mnist1d", "cue", "fsdd")
# Per task: load_task options and the training budget (epochs, hidden neurons). Everything else is TrainConfig's
# default (Adam, learning rate, cosine schedule, batch 32, HYPR chunk 32).
BUDGET = {
    "resonance": ({}, 6, 64),
    "digits": ({}, 20, 64),
    "mnist1d": ({}, 10, 64),
    "cue": ({"steps": 1000}, 4, 32),
    "fsdd": ({}, 12, 64),
}


def one(job: dict) -> dict:
    import torch
    from hypr_edge import gradients
    from hypr_edge.tasks import load_task
    from hypr_edge.train import TrainConfig, TrainingDiverged, new_model, train
    torch.set_num_threads(1)
    options, epochs, hidden = BUDGET[job["task"]]
    data = load_task(job["task"], seed=job["seed"], data=job.get("data"), **options)
    cfg = TrainConfig(neuron=job["model"], method=job["method"], hidden=[hidden], epochs=epochs, seed=job["seed"],
                      recurrent=job["recurrent"], alpha_out=job["alpha_out"])
    model = new_model(cfg, data)
    x, y = torch.as_tensor(data.x_train[:64]), torch.as_tensor(data.y_train[:64])

    def cosine() -> float:  # HYPR vs BPTT gradient of all parameters as one vector
        g = [gradients(model, x, y, method=m, chunk=cfg.chunk, loss_steps=data.loss_steps) for m in ("bptt", "hypr")]
        a, b = (torch.cat([v.flatten() for v in gi.values()]) for gi in g)
        return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30))
    out = dict(job, epochs=epochs, hidden=hidden)
    if job["method"] == "bptt":
        out["cosine_init"] = cosine()
    out.update(lr=cfg.lr, chunk=cfg.chunk, schedule=cfg.schedule, batch_size=cfg.batch_size)
    try:
        metrics = train(model, data, cfg, progress=False)
    except TrainingDiverged as err:  # counted as a failed run in the table, not silently dropped
        return dict(out, accuracy=None, error=str(err), seconds=float("nan"), cosine_trained=float("nan"))
    if job["method"] == "bptt":
        out["cosine_trained"] = cosine()
    return dict(out, accuracy=metrics["test_accuracy"], seconds=metrics["seconds"],
                spike_rate=metrics["history"]["spike_rate"][-1])


def key(r: dict) -> str:
    return "/".join(str(r[k]) for k in ("task", "model", "method", "seed", "recurrent", "alpha_out"))


def mean_spread(values: list[float], scale: float = 100.0) -> str:
    """mean ± sample standard deviation (just the value for one seed)."""
    v = np.asarray(values) * scale
    return f"{v.mean():.1f}" + (f" ± {v.std(ddof=1):.1f}" if len(v) > 1 else "")


def report(results: dict, tasks, models, seeds, recurrent: bool, alpha_out: float) -> None:
    rows = [r for r in results.values() if r["recurrent"] == recurrent and r["alpha_out"] == alpha_out
            and r["seed"] in seeds and r["task"] in tasks and r["model"] in models]
    if not rows:
        print("no results stored for this selection")
        return
    print(f"\ntest accuracy (%), mean ± sd over seeds {', '.join(map(str, seeds))}; "
          f"{'recurrent' if recurrent else 'feed-forward'} hidden layer, readout alpha {alpha_out:g}")
    print("| task | budget | model | BPTT | HYPR | HYPR − BPTT (pp) | cos(HYPR, BPTT) init / trained | seconds BPTT / HYPR |")
    print("|---|---|---|---|---|---|---|---|")
    gaps = {}
    for t in tasks:
        for m in models:
            by = {meth: [r for r in rows if r["task"] == t and r["model"] == m and r["method"] == meth]
                  for meth in ("bptt", "hypr")}
            failed = sum(r["accuracy"] is None for meth in by for r in by[meth])
            by = {meth: [r for r in by[meth] if r["accuracy"] is not None] for meth in by}
            both = sorted({r["seed"] for r in by["bptt"]} & {r["seed"] for r in by["hypr"]})
            if not both:
                continue
            acc = {meth: [next(r for r in by[meth] if r["seed"] == s)["accuracy"] for s in both] for meth in by}
            gap = [h - b for h, b in zip(acc["hypr"], acc["bptt"])]
            gaps.setdefault(m, []).append(float(np.mean(gap)))
            r0 = by["bptt"][0]
            budget = f"{r0['epochs']} ep, {r0['hidden']} hidden, lr {r0['lr']:g} {r0['schedule']}"
            cos = (f"{np.mean([r['cosine_init'] for r in by['bptt']]):.2f} / "
                   f"{np.mean([r['cosine_trained'] for r in by['bptt']]):.2f}")
            secs = " / ".join(f"{np.mean([r['seconds'] for r in by[meth]]):.0f}" for meth in ("bptt", "hypr"))
            note = f" ({failed} run(s) diverged, left out)" if failed else ""
            print(f"| {t} | {budget} | {m.upper()} | {mean_spread(acc['bptt'])} | {mean_spread(acc['hypr'])} | "
                  f"{mean_spread(gap)}{note} | {cos} | {secs} |")
    print("\nmean HYPR − BPTT gap over the tasks above, per model (pp): "
          + ", ".join(f"{m.upper()} {100 * np.mean(g):+.1f}" for m, g in gaps.items()))


def main() -> None:
    from hypr_edge.neurons import MODELS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--models", default="all", help=f"comma-separated, or all ({', '.join(MODELS)})")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2, help="parallel training processes (default 2)")
    ap.add_argument("--no-recurrent", action="store_true", help="feed-forward hidden layer (for the gap analysis)")
    ap.add_argument("--alpha-out", type=float, default=0.9, help="readout decay (0: memoryless, for the analysis)")
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd"), help="FSDD recordings")
    ap.add_argument("--results", default=str(ROOT / "runs" / "bench-accuracy.json"), help="results file (merged)")
    ap.add_argument("--report", action="store_true", help="print the stored results, train nothing")
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    models = list(MODELS) if args.models == "all" else args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    for name, known in (("task", TASKS), ("model", MODELS)):
        unknown = [v for v in (tasks if name == "task" else models) if v not in known]
        if unknown:
            ap.error(f"unknown {name} {unknown[0]!r}; choose from {', '.join(known)}")
    if "fsdd" in tasks and not os.path.isdir(args.fsdd):
        print(f"note: no FSDD recordings at {args.fsdd}: fsdd skipped")
        tasks.remove("fsdd")
    path = Path(args.results)
    results = json.loads(path.read_text()) if path.exists() else {}
    recurrent = not args.no_recurrent
    if not args.report:
        jobs = [{"task": t, "model": m, "method": meth, "seed": s, "recurrent": recurrent,
                 "alpha_out": args.alpha_out, "data": args.fsdd if t == "fsdd" else None}
                for t in tasks for m in models for s in seeds for meth in ("bptt", "hypr")]
        path.parent.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(one, job) for job in jobs]
            for f in tqdm(as_completed(futures), total=len(futures), desc="accuracy"):
                r = f.result()
                results[key(r)] = r
                path.write_text(json.dumps(results, indent=1))
    report(results, tasks, models, seeds, recurrent, args.alpha_out)


if __name__ == "__main__":
    main()
