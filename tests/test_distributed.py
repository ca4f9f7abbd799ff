"""Data-parallel training (hypr_edge/distributed.py) with real torchrun processes: 2 on localhost, gloo, one launch
(tests/fixtures/distributed_worker.py checks BPTT, HYPR and the train command in it)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hypr_edge.tasks
from hypr_edge.cli import main
from hypr_edge.distributed import World
from hypr_edge.tasks import load_task

WORKER = Path(__file__).parent / "fixtures" / "distributed_worker.py"


def test_shares_cover_the_batch_and_differ_by_at_most_one():
    for n in range(0, 12):
        for size in (1, 2, 3, 5):
            parts = [World(rank, size).share(n) for rank in range(size)]
            assert [i for p in parts for i in range(n)[p]] == list(range(n))
            lengths = [len(range(n)[p]) for p in parts]
            assert max(lengths) - min(lengths) <= 1


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(WORKER), str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc, json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("method", ["bptt", "hypr"])
def test_two_processes_give_the_single_process_gradient_and_weights(launched, method):
    r = launched[2][method]
    assert r["gradient_rel"] <= 1e-12 and r["loss_rel"] <= 1e-12      # the batch split 4 + 3, all-reduced
    assert r["moved"] > 1e-3                                          # 5 Adam steps moved the weights ...
    assert r["weights_rel"] <= 1e-12                                  # ... as one process moves them
    assert r["same_on_every_rank"]


def test_train_command_under_torchrun_writes_once_from_rank_0(launched, tmp_path, monkeypatch):
    out, proc, results = launched
    assert results["cli_exit"] == 0   # the worker makes any write from rank 1 fail the run
    cli = out / "cli"
    assert sorted(p.name for p in cli.iterdir()) == ["checkpoint.pt", "config.toml", "curves.png", "metrics.json",
                                                     "model.onnx"]
    assert proc.stdout.count("training on cpu, 2 processes") == 1 and proc.stdout.count("test accuracy") == 1
    spread = json.loads((cli / "metrics.json").read_text())
    assert spread["processes"] == 2 and len(spread["history"]["train_loss"]) == 2
    # The same run in one process: the same curve, to float32 rounding (the batch sums are grouped differently).
    small = {"n_train": 29, "n_test": 10, "steps": 20}
    monkeypatch.setattr(hypr_edge.tasks, "load_task",
                        lambda name, seed=0, data=None, **o: load_task(name, seed=seed, **{**small, **o}))
    assert main(["train", "--config", str(cli / "config.toml"), "--out", str(tmp_path / "one")]) == 0
    alone = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert alone["processes"] == 1
    for key in ("train_loss", "test_loss"):
        for a, b in zip(spread["history"][key], alone["history"][key]):
            assert abs(a - b) <= 1e-4 * abs(b), (key, a, b)
