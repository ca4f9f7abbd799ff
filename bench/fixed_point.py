"""Fixed-point benchmark (docs/fixed-point.md):
1. float vs fixed-point inference accuracy of trained networks on built-in tasks (goal <= 0.5 pp loss);
2. a network trained on-device (emulator, HYPR, SGD after every chunk) vs the same network trained in float
   HYPR with SGD (goal <= 2 pp);
3. emulator vs compiled C speed, batch 1 and batch 64;
4. bytes per synapse (goal <= 8 B for BRF while learning).
Usage: python bench/fixed_point.py [--quick]"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from hypr_edge.codegen.build import build_host
from hypr_edge.codegen.generate import generate
from hypr_edge.codegen.memory import memory_report
from hypr_edge.codegen.verify import Stream, run_c
from hypr_edge.fixed.emulator import Emulator
from hypr_edge.fixed.quantize import float_vs_fixed, quantize
from hypr_edge.gradient_methods import gradients, predict
from hypr_edge.tasks import load_task
from hypr_edge.train import TrainConfig, evaluate, new_model, train


def labels_for(y, steps, loss_steps):
    lab = np.broadcast_to(np.asarray(y)[:, None], (len(y), steps)).copy()
    if loss_steps:
        lab[:, :steps - loss_steps] = -1
    return lab


def inference_accuracy(task, neuron, hidden, epochs, n_test):
    ds = load_task(task)
    cfg = TrainConfig(neuron=neuron, hidden=[hidden], epochs=epochs, chunk=16)
    model = new_model(cfg, ds)
    train(model, ds, cfg, progress=False)
    spec = model.to_spec()
    qm = quantize(spec, calib_x=ds.x_train[:64], calib_y=ds.y_train[:64], chunk=16)
    x, y = ds.x_test[:n_test], ds.y_test[:n_test]
    r = float_vs_fixed(spec, qm, x, y, ds.loss_steps)
    return r, qm


def device_vs_float(task, neuron, hidden, n_train, n_test, chunk, lr):
    """Same init; device: one emulated device streams the training sequences (labels on the loss steps), SGD after
    every chunk; float: HYPR gradient of each sequence, SGD with the same per-step learning rate."""
    ds = load_task(task)
    cfg = TrainConfig(neuron=neuron, hidden=[hidden], chunk=chunk)
    model = new_model(cfg, ds)
    spec0 = model.to_spec()
    qm = quantize(spec0, calib_x=ds.x_train[:64], calib_y=ds.y_train[:64], chunk=chunk, lr=lr)
    K = ds.loss_steps or ds.steps
    # float HYPR, SGD per sequence; the float loss is a mean over K steps, the device's a sum: lr * K
    fmodel = new_model(cfg, ds)
    params = dict(fmodel.named_parameters())
    for i in tqdm(range(n_train), desc=f"float HYPR {neuron}/{task}", leave=False):
        g = gradients(fmodel, torch.as_tensor(ds.x_train[i:i + 1]), torch.as_tensor(ds.y_train[i:i + 1]),
                      method="hypr", chunk=chunk, loss_steps=ds.loss_steps)
        with torch.no_grad():
            for name, v in g.items():
                if name.split(".")[-1] in ("w_in", "w_rec", "bias", "w_out", "b_out"):   # theta fixed, as on device
                    params[name] -= lr * K * v
    acc_float = evaluate(fmodel, ds.x_test[:n_test], ds.y_test[:n_test], ds.loss_steps)["accuracy"]
    emu = Emulator(qm, batch=1, learn=True)
    xq = qm.quantize_inputs(ds.x_train[:n_train])
    lab = labels_for(ds.y_train[:n_train], ds.steps, ds.loss_steps)
    for i in tqdm(range(n_train), desc=f"device HYPR {neuron}/{task}", leave=False):
        emu.reset_state()
        emu.run(xq[i:i + 1], lab[i:i + 1], keep=())
    qm_trained = qm
    qm_trained.w, qm_trained.wo = emu.w[0].copy(), emu.wo[0].copy()
    tr = Emulator(qm_trained, batch=n_test).run(qm.quantize_inputs(ds.x_test[:n_test]), keep=("outputs",))
    pred = predict(torch.as_tensor(tr["outputs"] / 1.0), ds.loss_steps).numpy()
    acc_dev = float(np.mean(pred == ds.y_test[:n_test]))
    with torch.no_grad():
        acc0 = evaluate(model, ds.x_test[:n_test], ds.y_test[:n_test], ds.loss_steps)["accuracy"]
    return acc0, acc_float, acc_dev


def speed(qm, steps=1000):
    rng = np.random.default_rng(0)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate(qm, tmp)
        exe = build_host(tmp, cflags=("-O2", "-std=c99"))
        for b in (1, 64):
            x = qm.quantize_inputs((rng.random((b, steps, qm.n_in)) < 0.2) * 1.0)
            y = rng.integers(0, qm.n_out, (b, steps))
            for learn in (False, True):
                t = time.perf_counter()
                Emulator(qm, batch=b, learn=learn).run(x, y if learn else None, keep=())
                te = time.perf_counter() - t
                streams = [Stream(x[k], y[k], learn) for k in range(b)]
                t = time.perf_counter()
                run_c(exe, qm, streams, tmp)
                tc = time.perf_counter() - t
                out[(b, learn)] = (b * steps / te, b * steps / tc)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    args = ap.parse_args()
    q = args.quick
    print("== 1. float vs fixed-point inference (trained float networks, test sets)")
    last_qm = None
    for task, neuron in [("digits", "lif"), ("digits", "brf"), ("resonance", "brf")][: 2 if q else 3]:
        r, last_qm = inference_accuracy(task, neuron, 32 if q else 64, 1 if q else 3, 200 if q else 500)
        print(f"  {task:10s} {neuron}: float {100 * r['acc_float']:.2f} %  fixed {100 * r['acc_fixed']:.2f} %  "
              f"loss {100 * (r['acc_float'] - r['acc_fixed']):+.2f} pp  (spikes agree {100 * r['spike_agree']:.2f} %, "
              f"predictions agree {100 * r['pred_agree']:.2f} %)")
    print("== 2. on-device HYPR training (emulator) vs float HYPR, same init, SGD, theta fixed")
    for task, neuron, lr in [("digits", "lif", 2 ** -7), ("digits", "brf", 2 ** -7)][: 1 if q else 2]:
        a0, af, ad = device_vs_float(task, neuron, 32, 300 if q else 1400, 200 if q else 360, 8, lr)
        print(f"  {task} {neuron} lr {lr:g}: untrained {100 * a0:.2f} %, float HYPR {100 * af:.2f} %, "
              f"device {100 * ad:.2f} %  (device - float {100 * (ad - af):+.2f} pp)")
    print("== 3. speed, steps per second (emulator vs C -O2 harness incl. process start and trace I/O; C runs streams one after another)")
    for (b, learn), (se, sc) in speed(last_qm).items():
        print(f"  batch {b:2d} {'learning ' if learn else 'inference'}: emulator {se:10.0f}  C {sc:10.0f}  "
              f"(C / emulator {sc / se:.1f}x)")
    print("== 4. memory (BRF, 16 inputs, 64 hidden, recurrent, 4 outputs, learning all)")
    from hypr_edge.fixed.random_models import random_spec
    for lam in (8, 16, 32):
        qm = quantize(random_spec(np.random.default_rng(0), "brf", 16, 64, 4, True), chunk=lam)
        rep = memory_report(qm)
        print(f"  lambda {lam:2d}: {rep.per_synapse:.2f} B/synapse (weight + 3 eligibilities), "
              f"{rep.per_synapse_all_in:.2f} B/synapse all-in RAM ({rep.ram} B)")


if __name__ == "__main__":
    main()
