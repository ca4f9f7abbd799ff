"""Fixed-point benchmark (docs/fixed-point.md):
1. float vs fixed-point inference accuracy of trained networks on built-in tasks (goal <= 0.5 pp loss);
2. on-device HYPR learning (emulator: SGD after every chunk, stochastic rounding) vs float HYPR with the same
   schedule (SGD after every chunk, same learning rate, same initial network, same data order) (goal <= 2 pp);
3. emulator vs compiled C speed, batch 1 and batch 64, inference and learning (C: the harness's own loop time);
4. bytes per synapse, weight + eligibilities and all-in static RAM, int16 and int8 hidden eligibilities
   (docs/fixed-point.md §2.1; goals for BRF learning all: <= 8 B with int16, <= 5.5 B with int8).
Usage: python bench/fixed_point.py [--quick] [--only memory]   (default about 4 minutes on 2 cores, --quick about 1;
--only memory: section 4 alone)"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hypr_edge.codegen.build import build_host
from hypr_edge.targets.registry import generate
from hypr_edge.codegen.memory import memory_report
from hypr_edge.codegen.verify import Stream, write_input
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.quantize import float_vs_fixed, quantize
from hypr_edge.fixed.random_models import random_spec
from hypr_edge.gradient_methods import gradients, predict
from hypr_edge.model import model_from_spec
from hypr_edge.tasks import load_task
from hypr_edge.train import TrainConfig, evaluate, new_model, train


def labels_for(y, steps, loss_steps):
    """Per-step labels for the device: the class on the loss-carrying steps, -1 (no loss) before."""
    lab = np.broadcast_to(np.asarray(y)[:, None], (len(y), steps)).copy()
    if loss_steps:
        lab[:, :steps - loss_steps] = -1
    return lab


def trained_float(task, neuron, hidden, epochs):
    ds = load_task(task)
    cfg = TrainConfig(neuron=neuron, hidden=[hidden], epochs=epochs, chunk=32, lr=2e-2)
    model = new_model(cfg, ds)
    train(model, ds, cfg, progress=False)
    return ds, model


def fixed_accuracy(qm, ds, n_test):
    tr = Emulator(qm, batch=n_test).run(qm.quantize_inputs(ds.x_test[:n_test]), keep=("outputs",))
    pred = predict(torch.as_tensor(tr["outputs"] / 1.0), ds.loss_steps).numpy()
    return float(np.mean(pred == ds.y_test[:n_test]))


# ---- 2. on-device vs float HYPR with the same schedule

def device_vs_float(ds, qm, n_train, n_test):
    """One device streams n_train training sequences (state and eligibilities reset per sequence, weights kept),
    SGD after every chunk; float HYPR does the same from the dequantized initial network."""
    lr = qm.lr_mant * 2.0 ** -qm.lr_shift          # the device's learning rate, exactly
    K = ds.loss_steps or ds.steps                   # float loss: mean over K loss steps; device: sum
    learned = ("w_in", "w_rec", "bias", "w_out", "b_out") if qm.learn == "all" else ("w_out", "b_out")
    fmodel = model_from_spec(qm.to_spec(), dtype=torch.float64)
    params = {n: p for n, p in fmodel.named_parameters() if n.split(".")[-1] in learned}   # theta fixed, as on device

    def sgd(grads):
        with torch.no_grad():
            for name, p in params.items():
                p -= lr * K * grads[name]
                grads[name].zero_()
    t = time.perf_counter()
    for i in range(n_train):  # the device's schedule: an SGD step after every chunk
        x, y = torch.as_tensor(ds.x_train[i:i + 1], dtype=torch.float64), torch.as_tensor(ds.y_train[i:i + 1])
        gradients(fmodel, x, y, method="hypr", chunk=qm.chunk, loss_steps=ds.loss_steps, on_chunk=sgd)
    t_float = time.perf_counter() - t
    x_test = ds.x_test[:n_test].astype(np.float64)
    acc_float = evaluate(fmodel, x_test, ds.y_test[:n_test], ds.loss_steps)["accuracy"]
    t = time.perf_counter()
    emu = Emulator(qm, batch=1, learn=True)
    xq = qm.quantize_inputs(ds.x_train[:n_train])
    lab = labels_for(ds.y_train[:n_train], ds.steps, ds.loss_steps)
    for i in range(n_train):
        emu.reset_state()
        emu.run(xq[i:i + 1], lab[i:i + 1], keep=())
    t_dev = time.perf_counter() - t
    trained = quantize_copy(qm, emu.w[0], emu.wo[0])
    acc_dev = fixed_accuracy(trained, ds, n_test)
    # the device's weights in float: separates what learning did from what fixed-point inference does
    acc_dev_f = evaluate(model_from_spec(trained.to_spec()), x_test, ds.y_test[:n_test], ds.loss_steps)["accuracy"]
    return acc_float, acc_dev, acc_dev_f, t_float, t_dev


def quantize_copy(qm, w, wo):
    import copy
    out = copy.copy(qm)
    out.w, out.wo = np.asarray(w).copy(), np.asarray(wo).copy()
    return out


# ---- 3. speed

def speed(qm, steps):
    rng = np.random.default_rng(0)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp)
        exe = build_host(tmp, cflags=("-O2", "-std=c99"))
        for b in (1, 64):
            T = steps if b == 1 else max(2 * qm.chunk, steps // 8)
            x = qm.quantize_inputs((rng.random((b, T, qm.n_in)) < 0.2) * 1.0)
            y = rng.integers(0, qm.n_out, (b, T))
            for learn in (False, True):
                t = time.perf_counter()
                Emulator(qm, batch=b, learn=learn).run(x, y if learn else None, keep=())
                te = time.perf_counter() - t
                write_input(Path(tmp) / "in.bin", qm, [Stream(x[k], y[k], learn) for k in range(b)])
                r = subprocess.run([str(exe), str(Path(tmp) / "in.bin"), str(Path(tmp) / "out.bin"), "--time"],
                                   capture_output=True, text=True, check=True).stdout.split()
                tc = float(r[1])
                out[(b, learn)] = (b * T / te, b * T / max(tc, 1e-9))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    ap.add_argument("--only", choices=("memory",), help="run section 4 (memory) alone")
    args = ap.parse_args()
    q = args.quick
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    if args.only == "memory":
        memory_section()
        print(f"total {time.perf_counter() - t_start:.0f} s")
        return
    print("== 1. float vs fixed-point inference (float networks trained with hypr_edge.train, Adam, HYPR; test sets)")
    runs = [("digits", "lif", 64, 10), ("digits", "brf", 64, 10), ("resonance", "brf", 64, 6)]
    if q:
        runs = [("digits", "lif", 32, 4), ("digits", "brf", 32, 4)]
    nets = {}
    for task, neuron, hidden, epochs in runs:
        ds, model = trained_float(task, neuron, hidden, epochs)
        nets[(task, neuron)] = (ds, model)
        spec = model.to_spec()
        qm = quantize(spec, calib_x=ds.x_train[:64], calib_y=ds.y_train[:64], chunk=8)
        n_test = len(ds.x_test) if not q else 200
        r = float_vs_fixed(spec, qm, ds.x_test[:n_test], ds.y_test[:n_test], ds.loss_steps)
        print(f"  {task:9s} {neuron} {hidden} hidden, {epochs} epochs, {n_test} test: float {100 * r['acc_float']:.2f} %  "
              f"fixed {100 * r['acc_fixed']:.2f} %  loss {100 * (r['acc_float'] - r['acc_fixed']):+.2f} pp  "
              f"(spikes agree {100 * r['spike_agree']:.2f} %, predictions agree {100 * r['pred_agree']:.2f} %)")

    print("== 2. on-device HYPR (emulator) vs float HYPR, same schedule: SGD after every chunk, same lr, same init "
          "(pretrained hidden layer, readout re-initialised), same data order, theta fixed")
    ds, model = nets[("digits", "brf")]
    spec = model.to_spec()
    rng = np.random.default_rng(1)
    for learn, lr in [("all", 2 ** -5), ("readout", 2 ** -5)][: 1 if q else 2]:
        qm = quantize(spec, calib_x=ds.x_train[:64], calib_y=ds.y_train[:64], chunk=8, learn=learn, lr=lr)
        # a new readout (new user / new labels): formats stay those of the pretrained network
        qm.wo = np.round(rng.uniform(-0.1, 0.1, qm.wo.shape) * 2 ** qm.formats["fwo"]).astype(np.int64)
        n_train = 600 if q else len(ds.x_train)
        n_test = 200 if q else len(ds.x_test)
        acc0 = fixed_accuracy(qm, ds, n_test)
        af, ad, adf, tf, td = device_vs_float(ds, qm, n_train, n_test)
        print(f"  digits brf, learn {learn:7s} lambda {qm.chunk}, lr 2^{np.log2(lr):.0f}, {n_train} sequences: "
              f"before {100 * acc0:.2f} %, float HYPR {100 * af:.2f} %, device {100 * ad:.2f} %  "
              f"(device - float {100 * (ad - af):+.2f} pp; device weights in float {100 * adf:.2f} %; "
              f"{tf:.0f} s float, {td:.0f} s emulator)")

    print("== 3. speed, steps per second (emulator batch B: B streams at once; C -O2 harness --time: its own step "
          "loop, streams one after another)")
    kws = quantize(random_spec(np.random.default_rng(0), "brf", 80, 120, 12, True), chunk=8)
    for name, qm in [("digits brf 8-64-10", quantize(nets[("digits", "brf")][1].to_spec(), chunk=8)),
                     ("kws brf 80-120-12", kws)][: 1 if q else 2]:
        for (b, learn), (se, sc) in speed(qm, 200 if q else 400).items():
            print(f"  {name}, lambda 8, batch {b:2d} {'learning ' if learn else 'inference'}: emulator {se:9.0f}  "
                  f"C {sc:9.0f}  (C / emulator {sc / se:.1f}x)")

    memory_section()
    print(f"total {time.perf_counter() - t_start:.0f} s")


def memory_section():
    print("== 4. memory, BRF learning all (all-in: every static of hypr_model.c; flash and stack not included)")
    for sizes in [(16, 64, 4), (80, 120, 12)]:
        for lam in (8, 32):
            for bits, goal in ((16, 8.0), (8, 5.5)):   # hidden eligibilities int16 / int8 (docs/fixed-point.md §2.1)
                qm = quantize(random_spec(np.random.default_rng(0), "brf", *sizes, True), chunk=lam,
                              eligibility_bits=bits)
                rep = memory_report(qm, code=lam == 8)
                budget = round(goal * rep.synapses)
                code = (f"; code {rep.code['text']} B ({rep.code_target}), stack <= {rep.code['stack']} B"
                        if rep.code else "")
                print(f"  {sizes[0]}-{sizes[1]}-{sizes[2]} ({rep.synapses} synapses), lambda {lam:2d}, int{bits:<2d} "
                      f"eligibilities: {rep.per_synapse:.2f} B/synapse weight + eligibilities, "
                      f"{rep.per_synapse_all_in:.2f} B/synapse all-in ({rep.ram} B; {goal:g} B budget {budget} B, "
                      f"{rep.ram - budget:+d} B){code}")


if __name__ == "__main__":
    main()
