"""Streaming speed of `hypr-edge stream` over QEMU's UART: steps per second over the link (wall clock, host and
protocol included) and of the device's own compute (its ticks), for a continuous stream with sparse labels,
inference and on-device learning, without and with --record-spikes (a RUN and a spike read per step).

    python bench/stream_link.py [--steps 2000] [--board mps2-an386]

The model is a random ALIF 16-16-10 (recurrent, hidden and readout learning, chunk 8); the stream has 30 %
sparse inputs and labels on the last 50 steps of every 200. Wall-clock figures depend on the host (QEMU
emulates the core and serves the UART); device figures are QEMU -icount ticks at the board's nominal clock.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hypr_edge.fixed.random_models import random_qmodel  # noqa: E402
from hypr_edge.qemu import QemuSession  # noqa: E402
from hypr_edge.stream import quantize_inputs  # noqa: E402
from hypr_edge.stream_inputs import stream  # noqa: E402
from hypr_edge.stream_runner import play  # noqa: E402
from hypr_edge.targets import cortex_m as fw  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--board", default="mps2-an386")
    args = ap.parse_args()
    qm = random_qmodel(np.random.default_rng(6), "alif", 16, 16, 10, True, 8, "all")
    rng = np.random.default_rng(0)
    x = (rng.random((args.steps, 16)) < 0.3) * rng.uniform(0.5, 1.0, (args.steps, 16))
    # labels on the last 50 steps of every 200 (a quarter of the steps), as segments of a recording would be:
    # a RUN carries one label, so each labelled segment costs two RUNs more
    labels = np.where(np.arange(args.steps) % 200 >= 150, (np.arange(args.steps) // 200) % 10, -1)
    data = stream(x, labels, "bench")
    data = replace(data, x=quantize_inputs(qm, data.x, "refuse")[0])
    with tempfile.TemporaryDirectory() as tmp:
        folder = fw.write_firmware(Path(tmp) / "fw", target="cortex-m4", board=args.board, qmodel=qm)
        elf = fw.build_firmware(folder, args.board)
        print(f"{args.board}, ALIF 16-16-10, continuous stream of {args.steps} steps, "
              f"{int((labels >= 0).sum())} labelled")
        print(f"{'mode':<10} {'spikes':<8} {'link steps/s':>13} {'device steps/s':>15} {'wall s':>7}")
        for learn in (False, True):
            for spikes in (False, True):
                with QemuSession(elf, args.board) as q:
                    board = q.connect()
                    t0 = time.perf_counter()
                    log = play(board, qm, data, learn=learn, record_spikes=spikes, progress=False)
                    wall = time.perf_counter() - t0
                    q.stop(board)
                    board.close()
                print(f"{'learn' if learn else 'infer':<10} {'yes' if spikes else 'no':<8} "
                      f"{log.done / log.wall_s:>13.0f} {log.done / log.device_seconds:>15.0f} {wall:>7.1f}")


if __name__ == "__main__":
    main()
