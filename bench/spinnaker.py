"""SpiNNaker target at the size of the SpiNNaker 2 e-prop keyword-spotting network (80 inputs, 120 recurrent
neurons, 12 outputs, ~25,000 synapses) learning on-device with HYPR: cores used (fewest that fit the per-core
budget; the readout on a hidden core when it fits), bytes per core (ARM968 and Cortex-M4F builds), bytes per synapse,
packets per time step on the host machine simulator (all of them cross cores), and a bit-exactness check against
the single-core emulator.
Usage: python bench/spinnaker.py [--neuron lif] [--chunk 8] [--core-kb 128] [--steps 200] [--readout auto]"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypr_edge.codegen.verify import Stream, compare, run_emulator  # noqa: E402
from hypr_edge.fixed.random_models import random_qmodel  # noqa: E402
from hypr_edge.neurons import NEURONS  # noqa: E402
from hypr_edge.spinnaker.generate import Report, arm_sizes, build_sim, generate_spinnaker, run_sim  # noqa: E402

N_IN, N_HIDDEN, N_OUT = 80, 120, 12
FLOAT_EPROP_BYTES = 680 * 1024     # the float e-prop reference on SpiNNaker 2 (12 cores)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neuron", default="lif", choices=NEURONS)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--core-kb", type=float, default=128)
    ap.add_argument("--steps", type=int, default=200, help="steps per stream (2 learning streams)")
    ap.add_argument("--rate", type=float, default=0.05, help="input spike probability per step")
    ap.add_argument("--readout", default="auto", choices=("auto", "separate"),
                    help="readout on a hidden core when it fits (auto) or on a core of its own")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    qm = random_qmodel(rng, args.neuron, N_IN, N_HIDDEN, N_OUT, True, args.chunk, "all")
    syn = N_HIDDEN * (N_IN + N_HIDDEN) + N_OUT * N_HIDDEN
    streams = []
    for k in range(2):
        x = qm.quantize_inputs((rng.random((args.steps, N_IN)) < args.rate).astype(float))
        y = np.full(args.steps, int(rng.integers(0, N_OUT)))
        streams.append(Stream(x.astype(np.int64), y, True, 1 + k))
    with tempfile.TemporaryDirectory() as tmp:
        p, _ = generate_spinnaker(qm, tmp, None, int(args.core_kb * 1024), args.readout)
        print(f"{args.neuron.upper()} {N_IN}-{N_HIDDEN}-{N_OUT}, {syn} synapses, chunk {args.chunk}: "
              f"building {p.n_cores} cores for host, ARM968, Cortex-M4F ...", flush=True)
        arm = arm_sizes(tmp, p.n_cores)
        exe = build_sim(tmp, p.n_cores)
        sim, counts = run_sim(exe, qm, streams, tmp, stats=True)
    report = Report(p, arm)
    print(report.text())
    ok = compare(sim, run_emulator(qm, streams))
    print(f"bit-exact with the single-core emulator over {len(streams)} learning streams x {args.steps} steps: "
          + ("yes" if ok is None else f"NO: {ok}"))
    steps = counts["steps"]
    per_core = {name: c["sent"] / steps for name, c in counts["cores"].items()}
    total = sum(c["sent"] for c in counts["cores"].values())
    peak = max(c["max_sent_per_step"] for c in counts["cores"].values())
    print(f"packets per time step (sent, fabric): {total / steps:.1f} mean; per core "
          + ", ".join(f"{k} {v:.1f}" for k, v in per_core.items())
          + f"; busiest core's peak step {peak} (a chunk end: learning signals); host input packets "
          f"{counts['host'] / steps:.1f} per step")
    used = [sum(arm["arm968"][c].values()) for c in range(p.n_cores)] if arm else \
        [sum(p.data_bytes(c).values()) for c in range(p.n_cores)]
    where = f"readout on core {p.readout_core}" if p.shared else "readout on its own core"
    print(f"cores used: {p.n_cores} ({p.k} hidden, {where}); bytes per core (ARM968 text+data+bss): "
          + ", ".join(str(u) for u in used) + f"; total {sum(used)} B = {sum(used) / syn:.2f} B per synapse; "
          f"float e-prop reference ~{FLOAT_EPROP_BYTES // 1024} KB")
    print(f"goal (at most two {args.core_kb:g} KB cores): " + ("met" if p.n_cores <= 2 and max(used) <= p.budget
                                                                else "not met"))
    return 0 if ok is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
