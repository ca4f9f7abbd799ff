"""Test accuracy of every neuron model trained with BPTT and with HYPR on every offline task, over several seeds.

Usage: nice -n 10 python bench/accuracy.py [--tasks resonance,digits,mnist1d,cue,fsdd] [--models all]
                                           [--seeds 0,1,2] [--jobs 2] [--results runs/bench-accuracy.json]
The neuron models come from the registry (hypr_edge.neurons.MODELS). Every (task, model, seed) trains with BPTT and
with HYPR from the same initial network and data order, with the training defaults of hypr_edge.train.TrainConfig
and the per-task budget in BUDGET; runs go to --jobs worker processes, one torch thread each. Results are merged into
--results as they come, so the bench can be run piecewise (--tasks, --models, --seeds); --report prints the table
of what is stored for the selection without training; runs already stored are not trained again (--rerun). Also printed per (task, model): the cosine between the HYPR
and BPTT gradients of the hidden layers' parameters (one vector; the readout's gradient is exact in both) on 64
training sequences, at initialisation and after BPTT training, averaged over the seeds. FSDD runs when its
recordings are at --fsdd (default ../shared/data/fsdd) and is skipped with a note otherwise.

Variants, one change from the defaults each (for docs/training.md's analysis): --no-recurrent, --alpha-out A,
--lr X, --schedule constant, --no-scale-lr (one Adam learning rate for every weight), --generic-init (ignore the
task's frequency band and memory span: the neuron models' generic initialisation), --epochs N.
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
# Per task: load_task options, epochs, hidden neurons. Everything else is TrainConfig's default (Adam, learning
# rate, cosine schedule, readout decay, batch 32, HYPR chunk 32). cue at T = 1000: two epochs (16 steps) suffice
# for BRF, and the BPTT runs take minutes each.
BUDGET = {
    "resonance": ({}, 6, 64),
    "digits": ({}, 12, 64),
    "mnist1d": ({}, 10, 64),
    "cue": ({"steps": 1000}, 2, 32),
    "fsdd": ({}, 12, 64),
}
VARIANT_DEFAULTS = {"recurrent": True, "alpha_out": None, "lr": None, "schedule": None, "scale_lr": True,
                    "generic_init": False, "epochs": None}


def one(job: dict) -> dict:
    import dataclasses

    import torch
    from hypr_edge import gradients
    from hypr_edge.tasks import load_task
    from hypr_edge.train import TrainConfig, TrainingDiverged, new_model, train
    torch.set_num_threads(1)
    options, epochs, hidden = BUDGET[job["task"]]
    v = job["variant"]
    data = load_task(job["task"], seed=job["seed"], data=job.get("data"), **options)
    if v["generic_init"]:
        data = dataclasses.replace(data, band=None, memory=None)
    chosen = {k: v[k] for k in ("alpha_out", "lr", "schedule") if v[k] is not None}
    cfg = TrainConfig(neuron=job["model"], method=job["method"], hidden=[hidden], epochs=v["epochs"] or epochs,
                      seed=job["seed"], recurrent=v["recurrent"], scale_lr=v["scale_lr"], **chosen)
    model = new_model(cfg, data)
    x, y = torch.as_tensor(data.x_train[:64]), torch.as_tensor(data.y_train[:64])

    def cosine() -> float:
        """HYPR vs BPTT gradient of the hidden layers' parameters as one vector (the readout's is exact in both)."""
        g = [gradients(model, x, y, method=m, chunk=cfg.chunk, loss_steps=data.loss_steps) for m in ("bptt", "hypr")]
        a, b = (torch.cat([t.flatten() for n, t in gi.items() if n.startswith("layers.")]) for gi in g)
        return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30))
    out = dict(job, epochs=cfg.epochs, hidden=hidden, lr=cfg.lr, schedule=cfg.schedule, alpha_out=cfg.alpha_out,
               chunk=cfg.chunk, batch_size=cfg.batch_size)
    if job["method"] == "bptt":
        out["cosine_hidden_init"] = cosine()
    try:
        metrics = train(model, data, cfg, progress=False)
    except TrainingDiverged as err:  # counted as a failed run in the table, not silently dropped
        return dict(out, accuracy=None, error=str(err), seconds=float("nan"), cosine_hidden_trained=float("nan"))
    if job["method"] == "bptt":
        out["cosine_hidden_trained"] = cosine()
    return dict(out, accuracy=metrics["test_accuracy"], seconds=metrics["seconds"],
                spike_rate=metrics["history"]["spike_rate"][-1])


def variant_name(v: dict) -> str:
    """'default', or the options that differ from it, e.g. 'no-recurrent alpha_out=0'."""
    parts = [("no-recurrent" if k == "recurrent" else k.replace("_", "-") if value is True else
              f"no-{k.replace('_', '-')}" if value is False else f"{k}={value}")
             for k, value in v.items() if value != VARIANT_DEFAULTS[k]]
    return " ".join(parts) or "default"


def key(r: dict) -> str:
    return "/".join([r["task"], r["model"], r["method"], str(r["seed"]), variant_name(r["variant"])])


def mean_spread(values: list[float], scale: float = 100.0) -> str:
    """mean ± sample standard deviation (just the value for one seed)."""
    v = np.asarray(values) * scale
    return f"{v.mean():.1f}" + (f" ± {v.std(ddof=1):.1f}" if len(v) > 1 else "")


def report(results: dict, tasks, models, seeds, variant: dict) -> None:
    name = variant_name(variant)
    rows = [r for r in results.values() if variant_name(r["variant"]) == name and r["seed"] in seeds
            and r["task"] in tasks and r["model"] in models]
    if not rows:
        print("no results stored for this selection")
        return
    print(f"\ntest accuracy (%), mean ± sd over seeds {', '.join(map(str, seeds))}; variant: {name}")
    print("| task | budget | model | BPTT | HYPR | HYPR − BPTT (pp) | cos(HYPR, BPTT) hidden, init / trained | seconds BPTT / HYPR |")
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
            budget = f"{r0['epochs']} ep, {r0['hidden']} hidden"
            cos = " / ".join(f"{np.mean([r[f'cosine_hidden_{when}'] for r in by['bptt']]):.2f}"
                             if all(f"cosine_hidden_{when}" in r for r in by["bptt"]) else "—"
                             for when in ("init", "trained"))
            secs = " / ".join(f"{np.mean([r['seconds'] for r in by[meth]]):.0f}" for meth in ("bptt", "hypr"))
            note = f" ({failed} run(s) diverged, left out)" if failed else ""
            print(f"| {t} | {budget} | {m.upper()} | {mean_spread(acc['bptt'])} | {mean_spread(acc['hypr'])} | "
                  f"{mean_spread(gap)}{note} | {cos} | {secs} |")
    r0 = rows[0]
    print(f"\nevery run: Adam lr {r0['lr']:g} ({r0['schedule']} schedule), batch {r0['batch_size']}, readout alpha "
          f"{r0['alpha_out']:g}, HYPR chunk {r0['chunk']}, one torch thread; seconds: training on the shared 2 cores")
    print("mean HYPR − BPTT gap over the tasks above, per model (pp): "
          + ", ".join(f"{m.upper()} {100 * np.mean(g):+.1f}" for m, g in gaps.items()))


def main() -> None:
    from hypr_edge.neurons import MODELS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--models", default="all", help=f"comma-separated, or all ({', '.join(MODELS)})")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2, help="parallel training processes (default 2)")
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd"), help="FSDD recordings")
    ap.add_argument("--results", default=str(ROOT / "runs" / "bench-accuracy.json"), help="results file (merged)")
    ap.add_argument("--report", action="store_true", help="print the stored results, train nothing")
    ap.add_argument("--rerun", action="store_true", help="train again the runs already in --results")
    var = ap.add_argument_group("variants (one change from the defaults, for the analysis)")
    var.add_argument("--no-recurrent", action="store_true", help="feed-forward hidden layer")
    var.add_argument("--alpha-out", type=float, help="readout decay (0: memoryless)")
    var.add_argument("--lr", type=float, help="Adam learning rate")
    var.add_argument("--schedule", choices=("cosine", "constant"), help="learning rate schedule")
    var.add_argument("--no-scale-lr", action="store_true", help="one learning rate for every weight matrix")
    var.add_argument("--generic-init", action="store_true", help="ignore the task's band and memory span")
    var.add_argument("--epochs", type=int, help="instead of the task's budget")
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    models = list(MODELS) if args.models == "all" else args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    for what, given, known in (("task", tasks, TASKS), ("model", models, MODELS)):
        unknown = [v for v in given if v not in known]
        if unknown:
            ap.error(f"unknown {what} {unknown[0]!r}; choose from {', '.join(known)}")
    if "fsdd" in tasks and not os.path.isdir(args.fsdd):
        print(f"note: no FSDD recordings at {args.fsdd}: fsdd skipped")
        tasks.remove("fsdd")
    variant = {"recurrent": not args.no_recurrent, "alpha_out": args.alpha_out, "lr": args.lr,
               "schedule": args.schedule, "scale_lr": not args.no_scale_lr, "generic_init": args.generic_init,
               "epochs": args.epochs}
    path = Path(args.results)
    results = json.loads(path.read_text()) if path.exists() else {}
    if not args.report:
        jobs = [{"task": t, "model": m, "method": meth, "seed": s, "variant": variant,
                 "data": args.fsdd if t == "fsdd" else None}
                for t in tasks for m in models for s in seeds for meth in ("bptt", "hypr")]
        done = [j for j in jobs if key(j) in results]
        if done and not args.rerun:  # runs are deterministic: a stored result is what the run would give again
            print(f"{len(done)} of {len(jobs)} runs already in {path}: kept (--rerun trains them again)")
            jobs = [j for j in jobs if key(j) not in results]
        path.parent.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(one, job) for job in jobs]
            for f in tqdm(as_completed(futures), total=len(futures), desc="accuracy"):
                r = f.result()
                results[key(r)] = r
                path.write_text(json.dumps(results, indent=1))
    report(results, tasks, models, seeds, variant)


if __name__ == "__main__":
    main()
