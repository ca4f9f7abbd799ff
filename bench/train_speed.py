"""Training speed and memory, BPTT vs HYPR, and hypr-edge beside snnTorch and Norse. Three tables:

  brf    BRF 16 -> 128 -> 10, batch 32, T = 250 / 1000 / 4000: seconds per training step (gradient + Adam) and
         the peak memory of one step, each in a fresh process (growth of the peak resident set over a warmed-up
         baseline, VmHWM, hypr_edge/peak_memory.py).
  shd    the Spiking Heidelberg Digits size, BRF 700 -> 256 -> 20, batch 32, inputs 2 % spikes, T = 250 / 1000:
         the gradient alone, BPTT and HYPR lambda = 32, at 1 and 2 torch threads; then the peak memory of one
         gradient, each in a fresh process.
  peers  LIF 64 -> 128 -> 10 (recurrent), batch 32, T = 250, inputs 10 % spikes: one gradient (forward + backward)
         of the mean cross-entropy over the steps in hypr-edge (BPTT, HYPR lambda = 32), snnTorch (RLeaky + Leaky
         readout, BPTT) and Norse (LIFRecurrentCell + LICell readout, BPTT), at 1 and 2 threads; skipped with a note
         where a peer is not installed (pip install snntorch; norse with --no-deps, see pyproject.toml).

Timings are interleaved (each repetition runs every configuration once, in turn), so a
change in the machine's load falls on all of them alike; printed as median [min - max] over the repetitions.
Usage: python bench/train_speed.py [--tables brf,shd,peers] [--repeats 5] [--quick]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

# ---------------------------------------------------------------- one configuration in a fresh process (memory)

ONE = """
import json, sys, time, torch
from hypr_edge import build_model, gradients
from hypr_edge.peak_memory import peak_growth_bytes
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
torch.manual_seed(0)
model = build_model("brf", n_inputs=spec["n_in"], hidden=[spec["hidden"]], n_outputs=spec["n_out"], seed=0)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
params = dict(model.named_parameters())
def inputs(t):
    if spec["density"]:
        return (torch.rand(32, t, spec["n_in"]) < spec["density"]).float() * spec["scale"]
    return torch.randn(32, t, spec["n_in"]) * spec["scale"]  # strong enough to make BRF spike (a few percent)
def train_step(t, x=None):
    x = inputs(t) if x is None else x
    y = torch.randint(0, spec["n_out"], (32,))
    for name, g in gradients(model, x, y, method=spec["method"], chunk=spec["chunk"]).items():
        params[name].grad = g
    if spec["optimizer"]:
        opt.step()
train_step(64)  # warm-up: lazy initialisation and allocator arenas before the memory baseline
x = None if spec["inputs_inside"] else inputs(spec["steps"])
times = []
def timed():
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        train_step(spec["steps"], x)
        times.append(time.perf_counter() - start)
peak = peak_growth_bytes(timed)
print(json.dumps({"seconds": times, "peak_bytes": peak}))
"""


def fresh_process(**spec) -> dict:
    base = {"threads": 1, "n_in": 16, "hidden": 128, "n_out": 10, "density": 0.0, "scale": 40.0, "chunk": 32,
            "optimizer": True, "inputs_inside": True, "repeats": 2}
    out = subprocess.run([sys.executable, "-c", ONE, json.dumps({**base, **spec})], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s [{min(times):.3f} - {max(times):.3f}]"


def brf_table(args) -> None:
    import torch

    from hypr_edge import build_model, gradients
    lengths = [250, 1000] if args.quick else [250, 1000, 4000]
    configs = [("bptt", 0)] + [("hypr", lam) for lam in (8, 32, 128)]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("brf", n_inputs=16, hidden=[128], n_outputs=10, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    params = dict(model.named_parameters())
    y = torch.randint(0, 10, (32,))

    def step(method, lam, x):
        for name, g in gradients(model, x, y, method=method, chunk=lam or x.shape[1]).items():
            params[name].grad = g
        opt.step()
    times = {}
    for t in lengths:
        x = torch.randn(32, t, 16) * 40  # strong enough to make BRF spike (a few percent)
        times.update({(m, lam, t): v for (m, lam), v in interleaved(
            {(m, lam): (lambda m=m, lam=lam: step(m, lam, x)) for m, lam in configs}, args.repeats).items()})
    memory = {(m, lam, t): fresh_process(method=m, steps=t, chunk=lam or t, repeats=1)["peak_bytes"]
              for t in lengths for m, lam in configs}
    print(f"\nBRF, 16 -> 128 -> 10, batch 32, {args.threads} torch thread(s); seconds per training step (gradient + "
          f"Adam), median [min - max] of {args.repeats}, interleaved / peak memory growth (fresh process each)")
    print("| method | " + " | ".join(f"T = {t}" for t in lengths) + " |")
    print("|" + "---|" * (len(lengths) + 1))
    for m, lam in configs:
        name = "BPTT" if m == "bptt" else f"HYPR λ={lam}"
        cells = [f"{summary(times[(m, lam, t)])} / {memory[(m, lam, t)] / 1e6:.0f} MB" for t in lengths]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


# ---------------------------------------------------------------- interleaved timings in this process

def interleaved(configs: dict, repeats: int) -> dict[str, list[float]]:
    """configs: name -> a function doing one step. Every function once as warm-up, then `repeats` rounds."""
    times = {name: [] for name in configs}
    for fn in configs.values():
        fn()
    for _ in range(repeats):
        for name, fn in configs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def shd_table(args) -> None:
    import torch

    from hypr_edge import build_model, gradients
    lengths = [250, 1000]
    torch.manual_seed(0)
    model = build_model("brf", n_inputs=700, hidden=[256], n_outputs=20, seed=0)
    xs = {t: (torch.rand(32, t, 700) < 0.02).float() for t in lengths}
    y = torch.randint(0, 20, (32,))
    with torch.no_grad():   # the training command's initial drive: input current std 15 (BRF's current_std)
        first = model.layers[0]
        first.w_in.mul_(15.0 / (xs[250].reshape(-1, 700) @ first.w_in.T).std())
        first.w_rec.mul_(model.neuron.spike_gain)
    _, spikes = model(xs[250][:8], return_spikes=True)
    configs = {}
    for t in lengths:
        configs[("bptt", t)] = lambda t=t: gradients(model, xs[t], y, method="bptt")
        configs[("hypr", t)] = lambda t=t: gradients(model, xs[t], y, method="hypr", chunk=32)
    print(f"\nSHD size: BRF 700 -> 256 -> 20, batch 32, inputs 2 % spikes (hidden spike rate "
          f"{spikes[0].mean():.1%}); seconds per gradient, median [min - max] of {args.repeats}, interleaved")
    print("| threads | T | BPTT | HYPR λ=32 | HYPR / BPTT |")
    print("|---|---|---|---|---|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = interleaved(configs, args.repeats)
        for t in lengths:
            b, h = times[("bptt", t)], times[("hypr", t)]
            print(f"| {threads} | {t} | {summary(b)} | {summary(h)} | "
                  f"{statistics.median(h) / statistics.median(b):.2f} |", flush=True)
    print("\nSHD size, peak memory growth of one gradient (fresh process each, 1 thread):")
    print("| T | BPTT | HYPR λ=32 |")
    print("|---|---|---|")
    for t in lengths:
        cells = [fresh_process(method=m, steps=t, n_in=700, hidden=256, n_out=20, density=0.02, scale=60.0,
                               optimizer=False, inputs_inside=False, repeats=1)["peak_bytes"] / 1e6
                 for m in ("bptt", "hypr")]
        print(f"| {t} | {cells[0]:.0f} MB | {cells[1]:.0f} MB |", flush=True)


def unroll(step, x, state):
    """The readout of a network over time: (o_t, state) = step(x_t, state) for every step of x (B, T, n), stacked."""
    import torch
    outs = []
    for t in range(x.shape[1]):
        o, state = step(x[:, t], state)
        outs.append(o)
    return torch.stack(outs, 1)


def peer_models(n_in: int, n_hidden: int, n_out: int):
    """snnTorch's and Norse's recurrent LIF network with a leaky readout, the ones installed."""
    from torch import nn
    nets, missing = {}, []
    try:
        import snntorch as snn

        class SnnTorchNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(n_in, n_hidden)
                self.lif = snn.RLeaky(beta=0.9, linear_features=n_hidden)
                self.out = nn.Linear(n_hidden, n_out)
                self.readout = snn.Leaky(beta=0.9, reset_mechanism="none")

            def forward(self, x):
                def step(xt, state):
                    spk, mem, mo = state
                    spk, mem = self.lif(self.fc(xt), spk, mem)
                    _, mo = self.readout(self.out(spk), mo)
                    return mo, (spk, mem, mo)
                return unroll(step, x, (*self.lif.init_rleaky(), self.readout.init_leaky()))
        nets["snnTorch BPTT"] = SnnTorchNet()
    except ImportError:
        missing.append("snnTorch")
    try:
        from norse.torch import LICell, LIFRecurrentCell

        class NorseNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.cell = LIFRecurrentCell(n_in, n_hidden)
                self.out = nn.Linear(n_hidden, n_out)
                self.readout = LICell()

            def forward(self, x):
                def step(xt, state):
                    cell, ro = state
                    z, cell = self.cell(xt, cell)
                    o, ro = self.readout(self.out(z), ro)
                    return o, (cell, ro)
                return unroll(step, x, (None, None))
        nets["Norse BPTT"] = NorseNet()
    except ImportError:
        missing.append("Norse")
    return nets, missing


def peers_table(args) -> None:
    import torch
    import torch.nn.functional as F

    from hypr_edge import build_model, gradients
    batch, steps, n_in, n_hidden, n_out = 32, 250, 64, 128, 10
    torch.manual_seed(0)
    x = (torch.rand(batch, steps, n_in) < 0.1).float()
    y = torch.randint(0, n_out, (batch,))
    model = build_model("lif", n_inputs=n_in, hidden=[n_hidden], n_outputs=n_out, seed=0)
    with torch.no_grad():
        model.layers[0].w_in.mul_(2.0 / (x.reshape(-1, n_in) @ model.layers[0].w_in.T).std())
    nets, missing = peer_models(n_in, n_hidden, n_out)

    def peer_gradient(net):
        o = net(x)
        loss = F.cross_entropy(o.reshape(-1, n_out), y.repeat_interleave(steps))
        return torch.autograd.grad(loss, [p for p in net.parameters() if p.requires_grad])
    configs = {"hypr-edge BPTT": lambda: gradients(model, x, y, method="bptt"),
               "hypr-edge HYPR λ=32": lambda: gradients(model, x, y, method="hypr", chunk=32)}
    configs.update({name: (lambda net=net: peer_gradient(net)) for name, net in nets.items()})
    print(f"\nLIF 64 -> 128 -> 10 (recurrent), batch 32, T = 250, inputs 10 % spikes; seconds per gradient, median "
          f"[min - max] of {args.repeats}, interleaved")
    if missing:
        print(f"note: {', '.join(missing)} not installed: left out")
    print("| threads | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = interleaved(configs, args.repeats)
        print(f"| {threads} | " + " | ".join(summary(times[name]) for name in configs) + " |")
        hypr = statistics.median(times["hypr-edge HYPR λ=32"])
        ratios = [f"{hypr / statistics.median(times[name]):.2f}x {name}" for name in configs if "HYPR" not in name]
        print("|   | HYPR λ=32 takes " + ", ".join(ratios) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="brf,shd,peers", help="which tables (default brf,shd,peers)")
    ap.add_argument("--quick", action="store_true", help="brf table: T = 250 and 1000 only")
    ap.add_argument("--repeats", type=int, default=5, help="repetitions per configuration (default 5)")
    ap.add_argument("--threads", type=int, default=1, help="brf table: torch threads per run (default 1)")
    args = ap.parse_args()
    tables = {"brf": brf_table, "shd": shd_table, "peers": peers_table}
    for name in args.tables.split(","):
        tables[name](args)


if __name__ == "__main__":
    main()
