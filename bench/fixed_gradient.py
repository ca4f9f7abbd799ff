"""Cosine similarity of the fixed-point HYPR gradient (emulator, dequantized) with float64 HYPR on the same
quantized network, over random models of every registered neuron model, recurrent or not, several chunk lengths (docs/fixed-point.md §10).

    python bench/fixed_gradient.py [--seeds 10]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hypr_edge.fixed.gradient_check import fixed_vs_float  # noqa: E402
from hypr_edge.neurons import NEURONS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="random models per configuration (default 10)")
    args = ap.parse_args()
    print("1 - cosine similarity (0 = same direction), worst and median over the seeds")
    print(f"{'neuron':8s} {'recurrent':9s} {'chunk/steps':11s} {'worst all':>9s} {'median all':>11s} "
          f"{'worst hidden':>12s} {'worst readout':>13s} {'spike rate':>10s}")
    worst = 1.0
    for neuron in NEURONS:
        for recurrent in (True, False):
            for chunk, steps in ((8, 8), (5, 23), (16, 40)):
                rs = [fixed_vs_float(neuron, recurrent, chunk, steps, seed) for seed in range(args.seeds)]
                hidden = [r["hidden"] for r in rs if r["hidden_norm"] > 1e-9]  # a silent layer has no gradient
                alls = [r["all"] for r in rs]
                worst = min(worst, *alls)
                print(f"{neuron:8s} {str(recurrent):9s} {f'{chunk}/{steps}':11s} {1 - min(alls):9.1e} "
                      f"{1 - np.median(alls):11.1e} {1 - min(hidden, default=float('nan')):12.1e} "
                      f"{1 - min(r['readout'] for r in rs):13.1e} {np.mean([r['rate'] for r in rs]):10.3f}")
    print(f"worst cosine similarity over all cases: {worst:.8f} (acceptance floor 0.99)")


if __name__ == "__main__":
    main()
