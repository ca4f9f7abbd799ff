"""`hypr-edge adapt` end to end (docs/adaptation.md): pretrain, ONNX, quantize, on-device learning in the
emulator and its float counterpart, results and plots. On the generated stand-in always, on a handful of real
FSDD recordings when ../shared/data/fsdd exists."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hypr_edge import adapt
from hypr_edge.cli import main
from hypr_edge.fixed.quantize import quantize
from hypr_edge.model import model_from_spec
from hypr_edge.tasks import fsdd
from hypr_edge.train import TrainConfig, new_model, train

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
TINY = ["--hidden", "16", "--epochs", "4", "--quiet"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(fsdd, "DEFAULT_CACHE", tmp_path / "cache")   # keep the feature cache out of $HOME


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return fsdd.make_fsdd_standin(tmp_path_factory.mktemp("standin"), speakers=("alba", "bo", "cyd"), takes=range(7))


def check_run(out: Path, speakers: list[str], learn: str) -> list[dict]:
    for name in ("results.json", "accuracy.png", "raster.png"):
        assert (out / name).read_bytes()[:4] == (b"{\n  " if name.endswith("json") else b"\x89PNG"), name
    res = json.loads((out / "results.json").read_text())["speakers"]
    assert [r["speaker"] for r in res] == speakers
    for r in res:
        assert Path(r["model"]).exists() and (out / r["speaker"] / "model.adapted.q.npz").exists()
        for key in ("float_before", "float_after", "fixed_before", "fixed_after"):
            assert 0.0 <= r[key] <= 1.0
        # the device learned: readout weights moved; hidden weights only when learning all
        assert r["learned"]["readout"]["changed"] > 0.05
        assert (r["learned"]["hidden"]["changed"] > 0.05) == (learn == "all")
        # the float counterpart learned the same parameter set
        moved = {n for n, v in r["float_learned_max_change"].items() if v > 0}
        assert moved == set(adapt.LEARNED[learn]), moved
    return res


def test_adapt_on_the_standin(standin, tmp_path):
    out = tmp_path / "run"
    assert main(["adapt", "--data", str(standin), "--speaker", "bo", "--out", str(out), *TINY]) == 0
    check_run(out, ["bo"], "all")
    # readout-only learning from the pretrained ONNX of that run (no second pretraining)
    out2 = tmp_path / "readout"
    assert main(["adapt", "--data", str(standin), "--speaker", "bo", "--model", str(out / "bo" / "model.onnx"),
                 "--learn", "readout", "--out", str(out2), "--quiet"]) == 0
    r = check_run(out2, ["bo"], "readout")[0]
    assert "pretrain" not in r
    first = json.loads((out / "results.json").read_text())["speakers"][0]
    assert r["fixed_before"] == first["fixed_before"] and r["float_before"] == first["float_before"]


def test_float_counterpart_uses_the_device_learning_rate(standin):
    """Same stream, same rate: the float and the device readout updates agree in direction and size. A missing
    factor K (sum vs mean over the loss steps) or a per-batch rate would fail the size check."""
    split = fsdd.fsdd_speaker_split(standin, "cyd")
    cfg = TrainConfig(neuron="lif", method="hypr", hidden=[12], epochs=2, chunk=16)
    torch.manual_seed(0)
    model = new_model(cfg, split.pretrain)
    train(model, split.pretrain, cfg, progress=False)
    spec = model.to_spec()
    ada = split.adapt
    qm = quantize(spec, calib_x=split.pretrain.x_train[:32], chunk=16, learn="readout", lr=2 ** -6)
    learned = adapt.fixed_adapt(qm, ada.x_train[:10], ada.y_train[:10], ada.loss_steps, progress=False)
    d_fixed = (learned.wo - qm.wo) / 2.0 ** qm.formats["fwo"]
    fmodel = model_from_spec(qm.to_spec(), dtype=torch.float64)   # start from the same (dequantized) weights
    w0 = torch.cat([fmodel.readout.w_out, fmodel.readout.b_out[:, None]], 1).detach().clone()
    adapt.float_adapt(fmodel, ada.x_train[:10].astype(np.float64), ada.y_train[:10], ada.loss_steps, 16, "readout",
                      adapt.device_lr(qm), progress=False)
    d_float = (torch.cat([fmodel.readout.w_out, fmodel.readout.b_out[:, None]], 1).detach() - w0).numpy()
    cos = float((d_fixed * d_float).sum() / (np.linalg.norm(d_fixed) * np.linalg.norm(d_float)))
    ratio = float(np.linalg.norm(d_fixed) / np.linalg.norm(d_float))
    assert cos > 0.95 and 0.8 < ratio < 1.25, (cos, ratio)


def test_step_labels_mark_only_the_loss_window():
    lab = adapt.step_labels(np.array([3, 7]), 6, 2)
    assert lab.tolist() == [[-1, -1, -1, -1, 3, 3], [-1, -1, -1, -1, 7, 7]]


def test_clear_errors(standin, tmp_path, capsys):
    cases = [(["--speaker", "nobody"], "unknown speaker 'nobody'"),
             (["--speaker", "bo,cyd", "--model", str(tmp_path / "m.onnx")], "exactly one --speaker"),
             (["--speaker", "bo", "--model", str(tmp_path / "m.onnx")], "no such file"),
             (["--device-lr", "0"], "--device-lr must be > 0")]
    for extra, message in cases:
        assert main(["adapt", "--data", str(standin), "--out", str(tmp_path / "x"), "--quiet", *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["adapt", "--data", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not (REAL / "recordings").is_dir(), reason="real FSDD recordings not present (../shared/data/fsdd)")
def test_adapt_on_real_recordings(tmp_path):
    """A handful of real recordings: 3 speakers x 10 digits x takes 0, 1 (test) and 5, 6 (adaptation)."""
    data = tmp_path / "fsdd"
    data.mkdir()
    for speaker in ("george", "jackson", "theo"):
        for digit in range(10):
            for take in (0, 1, 5, 6):
                shutil.copy(REAL / "recordings" / f"{digit}_{speaker}_{take}.wav", data)
    out = tmp_path / "run"
    assert main(["adapt", "--data", str(data), "--speaker", "theo", "--out", str(out), *TINY]) == 0
    r = check_run(out, ["theo"], "all")[0]
    assert r["adapt_utterances"] == 20 and r["test_utterances"] == 20
