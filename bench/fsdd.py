"""Spoken digits (FSDD) benchmark, docs/adaptation.md:
1. test accuracy on the conventional take split (takes 0-4 test) for the neuron models (default: every registered
   one; the figures of docs/adaptation.md: --neurons brf,alif,lif) x BPTT/HYPR;
2. per held-out speaker: pretrain in float on the five others, quantize, learn on-device (emulator, one streaming
   pass over the speaker's takes 5-49) and in float (same stream, rule and rate); the speaker's test accuracy
   (takes 0-4) before and after, float and fixed point, learning all weights and the readout only;
4. (--only elig) int16 vs int8 hidden eligibilities (docs/fixed-point.md §2.1): per held-out speaker the same
   pretrained model (adapt/<speaker>/model.onnx of an earlier run, pretrained here when missing) quantized with
   each width, one on-device pass learning all weights (emulator), the speaker's test accuracy before and after.

Usage: python bench/fsdd.py [--data ../shared/data/fsdd] [--quick] [--jobs 2] [--only split|adapt|elig] [--neurons brf,lif]
Writes runs/bench-fsdd/{split.json, adapt.json, elig.json, adapt/{results.json, accuracy.png, raster.png, ...}}. Each run uses one torch thread; --jobs runs that many in parallel.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("bptt", "hypr")


def split_job(job):
    """One (neuron, method) on the take split; returns the final-epoch test accuracy."""
    import torch
    from hypr_edge.tasks import load_task
    from hypr_edge.train import TrainConfig, new_model, train
    torch.set_num_threads(1)
    data_path, neuron, method, epochs, hidden, lr, chunk, seed = job
    data = load_task("fsdd", data=data_path, seed=seed)
    cfg = TrainConfig(neuron=neuron, method=method, hidden=[hidden], epochs=epochs, lr=lr, chunk=chunk, seed=seed)
    m = train(new_model(cfg, data), data, cfg, progress=False)
    return job, m["test_accuracy"], max(m["history"]["test_accuracy"]), m["seconds"], len(data.x_test)


def adapt_job(job):
    """One held-out speaker: pretrain, then on-device learning of all weights and of the readout only."""
    from hypr_edge.adapt import adapt_speaker
    data_path, speaker, cfg, out = job
    full = adapt_speaker(data_path, speaker, cfg, out, progress=False)
    readout = adapt_speaker(data_path, speaker, replace(cfg, learn="readout"), out / "readout", full["model"],
                            progress=False)
    return speaker, full, readout


def elig_job(job):
    """One held-out speaker: its pretrained model (trained and exported here when out/<speaker>/model.onnx is
    missing, as adapt_speaker does), then per eligibility width the quantization of adapt_speaker and one fixed-point
    pass learning all weights; returns the speaker, pretraining seconds, {bits: (before, after, fe)} and how the
    int8 run's learned hidden weights differ from the int16 run's (share of weights, largest difference in LSB)."""
    import torch
    from hypr_edge.adapt import fixed_accuracy, fixed_adapt
    from hypr_edge.fixed.quantize import quantize
    from hypr_edge.onnx_io import export_onnx, load_onnx
    from hypr_edge.tasks.fsdd import fsdd_speaker_split
    from hypr_edge.train import new_model, train
    torch.set_num_threads(1)
    data_path, speaker, cfg, out = job
    pre, ada = fsdd_speaker_split(data_path, speaker, seed=cfg.train.seed)
    onnx_path = out / speaker / "model.onnx"
    t0 = time.perf_counter()
    if not onnx_path.exists():
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        model = new_model(cfg.train, pre)
        model.info.update(held_out_speaker=speaker)
        train(model, pre, cfg.train, progress=False)
        export_onnx(model.to_spec(), onnx_path)
    t_pre = time.perf_counter() - t0
    spec, ls, res, w = load_onnx(onnx_path), ada.loss_steps, {}, {}
    for bits in (16, 8):
        qm = quantize(spec, calib_x=pre.x_train[:cfg.calib], calib_y=pre.y_train[:cfg.calib], chunk=cfg.device_chunk,
                      learn="all", lr=cfg.device_lr, eligibility_bits=bits)
        before = fixed_accuracy(qm, ada.x_test, ada.y_test, ls)
        learned = fixed_adapt(qm, ada.x_train, ada.y_train, ls, progress=False)
        res[bits] = (before, fixed_accuracy(learned, ada.x_test, ada.y_test, ls), qm.formats["fe"])
        w[bits] = learned.w
    diff = np.abs(w[8] - w[16])
    return speaker, t_pre, res, (float(np.mean(diff > 0)), int(diff.max())), len(ada.x_train), len(ada.x_test)


def elig_compare(pool, data_path, speakers, cfg, out) -> None:
    rows = {}
    for speaker, t_pre, res, wdiff, n_ada, n_test in tqdm(pool.map(elig_job, [(data_path, s, cfg, out / "adapt")
                                                                        for s in speakers]),
                                                    total=len(speakers), desc="int16 / int8 eligibilities"):
        rows[speaker] = (t_pre, res, wdiff)
    print(f"\n4. int16 vs int8 hidden eligibilities: held-out speaker's test takes ({n_test} utterances), before / "
          f"after one pass over its takes 5+ ({n_ada}), learning all weights, device chunk {cfg.device_chunk}, "
          f"lr {cfg.device_lr:g}, pretraining {cfg.train.epochs} epochs")
    print(f"{'speaker':9s} {'before':>7s} {'int16 after':>11s} {'gain':>6s} {'int8 after':>10s} {'gain':>6s} "
          f"{'int8 - int16':>12s}  fe16/fe8  hidden weights int8 != int16 (max LSB)")
    gains = {16: [], 8: []}
    for speaker in speakers:
        _, res, (share, max_lsb) = rows[speaker]
        (b16, a16, fe16), (b8, a8, fe8) = res[16], res[8]
        assert b16 == b8   # the same inference model: only the learning state's storage differs
        gains[16].append(a16 - b16)
        gains[8].append(a8 - b8)
        print(f"{speaker:9s} {100 * b16:6.1f}% {100 * a16:10.1f}% {100 * (a16 - b16):+6.1f} {100 * a8:9.1f}% "
              f"{100 * (a8 - b8):+6.1f} {100 * (a8 - a16):+12.1f}  {fe16:>4d}/{fe8:<3d}  {100 * share:5.1f} % ({max_lsb})")
    m16, m8 = (100 * sum(g) / len(g) for g in (gains[16], gains[8]))
    print(f"{'mean gain':9s} {'':7s} {'':11s} {m16:+6.1f} {'':10s} {m8:+6.1f} {m8 - m16:+12.1f}")
    (out / "elig.json").write_text(json.dumps(
        {"device_chunk": cfg.device_chunk, "device_lr": cfg.device_lr, "pretrain_epochs": cfg.train.epochs,
         "results": [{"speaker": s, "pretrain_seconds": rows[s][0], "hidden_weights_differ": rows[s][2][0],
                      "hidden_weights_max_diff_lsb": rows[s][2][1],
                      **{f"int{b}": {"before": v[0], "after": v[1], "fe": v[2]} for b, v in rows[s][1].items()}}
                     for s in speakers]}, indent=2))
    print(f"wrote {out / 'elig.json'}")


def sweep(data_path, speaker, cfg, out) -> None:
    """Device learning rate vs accuracy after one pass, both learning modes, float and fixed point."""
    from hypr_edge.adapt import adapt_speaker, table
    from hypr_edge.tasks.fsdd import fsdd_speaker_split
    model = out / speaker / "model.onnx"
    split = fsdd_speaker_split(data_path, speaker, seed=cfg.train.seed)
    if not model.exists():
        adapt_speaker(data_path, speaker, cfg, out, progress=True, split=split)
    for learn in ("readout", "all"):
        rows = []
        for e in tqdm((9, 7, 6, 5, 4), desc=f"sweep {learn}"):
            r = adapt_speaker(data_path, speaker, replace(cfg, learn=learn, device_lr=2.0 ** -e), out / "sweep",
                              str(model), progress=False, split=split)
            rows.append(dict(r, speaker=f"2^-{e}"))
        print(f"\n3. {speaker}, learning {learn}: device learning rate (first column) vs test accuracy")
        for line in table(rows, mean=False):
            print(line.replace("speaker   ", "lr        ", 1))


def main() -> None:
    from hypr_edge.adapt import AdaptConfig, plot_accuracy, table, write_outputs
    from hypr_edge.neurons import NEURONS
    from hypr_edge.tasks.fsdd import list_recordings, speakers_of
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fsdd"))
    ap.add_argument("--quick", action="store_true", help="fewer epochs and speakers: a smoke run, not the figures")
    ap.add_argument("--epochs", type=int, help="take-split training epochs (default 24, --quick 3)")
    ap.add_argument("--pretrain-epochs", type=int, help="pretraining epochs per held-out speaker (default 8, --quick 3)")
    ap.add_argument("--speakers", help="held-out speakers, comma-separated (default all; --quick: two)")
    ap.add_argument("--only", choices=("split", "adapt", "elig"),
                    help="run one of the parts (elig: int16 vs int8 eligibilities, section 4, only when named)")
    ap.add_argument("--sweep", metavar="SPEAKER", help="instead: sweep the device learning rate for one held-out "
                                                       "speaker (reuses its pretrained model from an adapt run)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1: the cores are shared)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-fsdd"))
    ap.add_argument("--neurons", help=f"neuron models of the take split, comma-separated (default all: "
                                      f"{','.join(NEURONS)})")
    args = ap.parse_args()
    models = args.neurons.split(",") if args.neurons else list(NEURONS)
    if any(m not in NEURONS for m in models):
        ap.error(f"--neurons: choose from {', '.join(NEURONS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = AdaptConfig()
    epochs = args.epochs or (3 if args.quick else 24)
    pre_epochs = args.pretrain_epochs or (3 if args.quick else d.train.epochs)
    hidden, lr, chunk = d.train.hidden[0], d.train.lr, d.train.chunk
    if args.sweep:
        return sweep(args.data, args.sweep, replace(d, train=replace(d.train, epochs=pre_epochs)), out / "adapt")
    pool = ProcessPoolExecutor(args.jobs)
    if args.only == "elig":
        known = speakers_of(list_recordings(args.data))
        speakers = args.speakers.split(",") if args.speakers else (known[:2] if args.quick else known)
        elig_compare(pool, args.data, speakers, replace(d, train=replace(d.train, epochs=pre_epochs)), out)
        pool.shutdown()
        return

    if args.only != "adapt":
        jobs = [(args.data, m, meth, epochs, hidden, lr, chunk, 0) for m in models for meth in METHODS]
        res = {}
        for job, acc, best, secs, n_test in tqdm(pool.map(split_job, jobs), total=len(jobs), desc="take split"):
            res[(job[1], job[2])] = (acc, best, secs)
        print(f"\n1. take split (takes 0-4 test, {n_test} utterances): test accuracy after {epochs} epochs, "
              f"hidden {hidden}, Adam lr {lr:g}, HYPR chunk {chunk} (best epoch in brackets)")
        print(f"{'model':6s} {'BPTT':>16s} {'HYPR':>16s} {'HYPR-BPTT':>10s}")
        for m in models:
            (b, bb, bs), (h, hb, hs) = res[(m, "bptt")], res[(m, "hypr")]
            print(f"{m:6s} {100 * b:6.1f}% ({100 * bb:4.1f}%) {100 * h:6.1f}% ({100 * hb:4.1f}%) {100 * (h - b):+9.1f}"
                  f"   ({bs:.0f} s / {hs:.0f} s)")
        (out / "split.json").write_text(json.dumps(
            {"epochs": epochs, "hidden": hidden, "lr": lr, "chunk": chunk,
             "results": [{"neuron": m, "method": k, "test_accuracy": v[0], "best_epoch_accuracy": v[1],
                          "seconds": v[2]} for (m, k), v in res.items()]}, indent=2))

    if args.only != "split":
        known = speakers_of(list_recordings(args.data))
        speakers = args.speakers.split(",") if args.speakers else (known[:2] if args.quick else known)
        cfg = replace(d, train=replace(d.train, epochs=pre_epochs))
        jobs = [(args.data, s, cfg, out / "adapt") for s in speakers]
        full, readout = {}, {}
        for s, f, r in tqdm(pool.map(adapt_job, jobs), total=len(jobs), desc="held-out speakers"):
            full[s], readout[s] = f, r
        full, readout = [full[s] for s in speakers], [readout[s] for s in speakers]
        for title, results in (("all weights", full), ("readout only", readout)):
            print(f"\n2. held-out speaker's test takes (0-4, {results[0]['test_utterances']} utterances), before / after "
                  f"one streaming pass over its takes 5+ ({results[0]['adapt_utterances']}), learning {title}, device chunk {cfg.device_chunk}, "
                  f"lr {results[0]['device_lr']:g}:")
            for line in table(results):
                print(line)
        print("weights changed by the device (all / readout-only run), max and mean |change| in LSB: " + ", ".join(
            f"{f['speaker']} hidden {f['learned']['hidden']['max_lsb']}/{f['learned']['hidden']['mean_lsb']:.1f}, "
            f"readout {f['learned']['readout']['max_lsb']}/{f['learned']['readout']['mean_lsb']:.0f} "
            f"({r['learned']['readout']['max_lsb']}/{r['learned']['readout']['mean_lsb']:.0f})"
            for f, r in zip(full, readout)))
        print("pretraining (float " + f"{cfg.train.neuron.upper()} {cfg.train.method.upper()}, {pre_epochs} epochs): "
              + ", ".join(f"{r['speaker']} train {100 * r['pretrain']['train_accuracy']:.1f}% / held-out all takes "
                          f"{100 * r['pretrain']['held_out_all_takes_accuracy']:.1f}%" for r in full))
        (out / "adapt.json").write_text(json.dumps({"all": full, "readout": readout}, indent=2))
        files = write_outputs(full, cfg, out / "adapt", args.data, speakers[0])   # results, accuracy, raster
        plot_accuracy(readout, out / "adapt" / "accuracy_readout.png")
        print("wrote " + ", ".join(map(str, [out / "adapt.json", *files, out / "adapt" / "accuracy_readout.png"])))
    pool.shutdown()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)")
