"""`hypr-edge train --config FILE` and `--checkpoint-every N` / `--resume OUT`: a config file repeats a run byte for
byte, flags override it, and a run stopped and resumed ends with the weights of one that never stopped."""
import json

import pytest

import hypr_edge.tasks
import hypr_edge.train
from hypr_edge.cli import main, parse
from hypr_edge.tasks import load_task as real_load_task

FAST = ["--neuron", "lif", "--hidden", "8", "--chunk", "8", "--batch-size", "32", "--quiet"]


@pytest.fixture(autouse=True)
def small_task(monkeypatch):
    """The resonance task at a size that trains in a second: 96 train sequences (3 batches), 30 steps."""
    def load(name, *, seed=0, data=None, **options):
        return real_load_task(name, seed=seed, data=data, n_train=96, n_test=32, **{"steps": 30, **options})
    monkeypatch.setattr(hypr_edge.tasks, "load_task", load)


def train(*argv) -> int:
    return main(["train", "--task", "resonance", *argv])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_config_file_repeats_the_run_byte_for_byte(tmp_path):
    first, again, other = tmp_path / "first", tmp_path / "again", tmp_path / "other"
    assert train(*FAST, "--epochs", "2", "--lr", "0.02", "--seed", "5", "--out", str(first)) == 0
    written = (first / "config.toml").read_text()
    assert 'neuron = "lif"' in written and "lr = 0.02" in written and "seed = 5" in written
    assert "\nout =" not in written   # the next run names its own folder
    assert main(["train", "--config", str(first / "config.toml"), "--out", str(again)]) == 0
    assert (again / "model.onnx").read_bytes() == (first / "model.onnx").read_bytes()
    assert (again / "config.toml").read_text() == written
    # The comparison can fail: one option changed gives another model.
    assert main(["train", "--config", str(first / "config.toml"), "--seed", "6", "--out", str(other)]) == 0
    assert (other / "model.onnx").read_bytes() != (first / "model.onnx").read_bytes()


def test_flags_override_the_file_and_the_file_overrides_defaults(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('neuron = "alif"\nhidden = [12, 6]\nlr = 0.5\nno-recurrent = true\nbatch_size = 16\n')
    _, module, args = parse(["train", "--config", str(cfg), "--lr", "0.02", "--epochs", "3"])
    resolved = module.resolve_options(args)
    c = module.config_from_args(resolved)
    assert (c.neuron, c.hidden, c.lr, c.recurrent, c.batch_size, c.epochs) == ("alif", [12, 6], 0.02, False, 16, 3)


@pytest.mark.parametrize("text, message", [
    ('lr = -1\n', "lr must be > 0"),
    ('learning_rate = 0.1\n', "unknown option 'learning_rate'"),
    ('no-recurrent = "yes"\n', "no-recurrent must be true or false"),
    ('epochs = 2.5\n', "epochs must be an integer"),
    ('lr = [1, 2\n', "not a valid TOML file"),
    ('resume = "x"\n', "unknown option 'resume'"),
])
def test_bad_config_file_gives_one_clear_line(tmp_path, capsys, text, message):
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    assert train("--config", str(cfg), "--out", str(tmp_path / "out")) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path, capsys):
    assert train("--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "out")) == 2
    assert "no such config file" in one_error_line(capsys)


def test_stopped_and_resumed_run_ends_with_the_same_weights(tmp_path, monkeypatch):
    """3 epochs of 3 batches; checkpoints every 4 optimizer steps (after steps 4 and 8); the run is interrupted
    (Ctrl-C) in step 7, in epoch 3, and resumed from step 4's checkpoint, in the middle of epoch 2."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    argv = [*FAST, "--method", "hypr", "--neuron", "brf", "--epochs", "3", "--checkpoint-every", "4"]
    assert train(*argv, "--out", str(whole)) == 0

    real, calls = hypr_edge.train.batch_gradients, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(hypr_edge.train, "batch_gradients", interrupted)
    assert train(*argv, "--out", str(stopped)) == 130
    assert not (stopped / "model.onnx").exists() and (stopped / "checkpoint.pt").exists()
    monkeypatch.setattr(hypr_edge.train, "batch_gradients", real)

    assert main(["train", "--resume", str(stopped), "--quiet"]) == 0
    assert (stopped / "model.onnx").read_bytes() == (whole / "model.onnx").read_bytes()
    got, want = (json.loads((d / "metrics.json").read_text())["history"] for d in (stopped, whole))
    for key in ("train_loss", "test_loss", "test_accuracy", "spike_rate"):
        assert got[key] == want[key], key


def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys):
    run = tmp_path / "run"
    assert train(*FAST, "--epochs", "1", "--lr", "0.01", "--checkpoint-every", "2", "--out", str(run)) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--lr", "0.5"]) == 2          # would not be the same run
    assert "--lr cannot change it" in one_error_line(capsys)
    assert main(["train", "--resume", str(tmp_path)]) == 2                    # no run there
    assert "no config.toml" in one_error_line(capsys)

    config = (run / "config.toml").read_text()
    (run / "config.toml").write_text(config.replace("lr = 0.01", "lr = 0.03"))  # another run's folder
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "belongs to another run (lr = 0.01 there, 0.03" in one_error_line(capsys)
    (run / "config.toml").write_text(config)

    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "not a readable checkpoint" in one_error_line(capsys)
    import torch
    torch.save({"format": "something else"}, run / "checkpoint.pt")
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "not a hypr-edge training checkpoint" in one_error_line(capsys)
    (run / "checkpoint.pt").unlink()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "no checkpoint to resume from" in one_error_line(capsys)
