"""Built-in tasks: determinism, shapes, balance, SHD binning by hand, errors, and that `resonance` needs time."""
from __future__ import annotations

import numpy as np
import pytest

from hypr_edge.tasks import TASKS, load_task
from shd_files import write_shd

# Small sizes keep the file fast; the defaults are exercised where they are cheap.
SMALL = {
    "resonance": dict(n_train=300, n_test=120, steps=80),
    "digits": dict(),
    "mnist1d": dict(n_samples=500),
    "cue": dict(steps=100, n_train=64, n_test=32),
}


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("x_train", "y_train", "x_test", "y_test"))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_by_seed(name):
    a, b = load_task(name, seed=3, **SMALL[name]), load_task(name, seed=3, **SMALL[name])
    assert _same(a, b)
    assert not _same(a, load_task(name, seed=4, **SMALL[name]))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shapes_dtypes_and_labels(name):
    d = load_task(name, **SMALL[name])
    assert d.name == name
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.ndim == 3 and x.shape[0] == y.shape[0] and x.shape[1:] == (d.steps, d.n_inputs)
        assert np.isfinite(x).all() and np.abs(x).max() < 20  # currents of order 1
        assert set(np.unique(y)) == set(range(d.n_classes))  # every class in each split
    assert d.loss_steps is None or 1 <= d.loss_steps <= d.steps
    counts = np.bincount(d.y_train, minlength=d.n_classes)
    assert counts.max() - counts.min() <= max(1, 0.3 * counts.mean())  # roughly balanced


def test_default_shapes():
    r = load_task("resonance")
    assert r.x_train.shape == (2000, 150, 2) and r.x_test.shape == (500, 150, 2) and r.n_classes == 6
    assert np.array_equal(np.bincount(r.y_train), [2000 // 6 + (i < 2000 % 6) for i in range(6)])
    d = load_task("digits", repeat=3, gap=2)
    assert d.x_train.shape[1:] == (8 * 5, 8) and d.x_train.shape[0] + d.x_test.shape[0] == 1797
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert not d.x_train[:, 3::5].any()  # blank steps after each row


def test_digits_rows_are_the_image():
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0
    d = load_task("digits", repeat=2)
    # Row r is held for steps 2r and 2r+1; the row sequence must match exactly one image.
    x = d.x_test[0]
    assert np.array_equal(x[0::2], x[1::2])
    match = np.flatnonzero(np.all(np.isclose(images, x[0::2][None]), axis=(1, 2)))
    assert len(match) >= 1 and load_digits().target[match[0]] == d.y_test[0]


def test_mnist1d_channels_and_global_rng_left_alone():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    signed = load_task("mnist1d", n_samples=500, channels=1, repeat=2)
    assert np.random.random() == expected  # make_dataset reseeds np.random; the loader restores it
    split = load_task("mnist1d", n_samples=500, channels=2, repeat=2)
    assert signed.x_train.shape == (400, 80, 1) and split.x_train.shape == (400, 80, 2)
    assert (split.x_train >= 0).all()
    assert np.allclose(split.x_train[..., 0] - split.x_train[..., 1], signed.x_train[..., 0])
    assert np.array_equal(signed.x_train[:, 0::2], signed.x_train[:, 1::2])


def test_resonance_is_temporal():
    """The time-averaged input says (almost) nothing about the class; the spectrum says a lot."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    d = load_task("resonance", n_train=1200, n_test=600, seed=1)
    chance = 1.0 / d.n_classes

    def score(features) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(features(d.x_train), d.y_train)
        return model.score(features(d.x_test), d.y_test)

    mean_acc = score(lambda x: x.mean(axis=1))
    fft_acc = score(lambda x: np.abs(np.fft.rfft(x[..., 0] - x[..., 1], axis=1)))
    assert mean_acc < chance + 0.1, mean_acc
    assert fft_acc > 0.8, fft_acc


# ---- cue ----------------------------------------------------------------------------------------------------

def test_cue_layout_balance_and_loss_steps():
    """15 channels: the class group fires only in the first 20 steps, the cue only in the last 20, silence between;
    classes exactly balanced; the loss (and decision) on the 20 cue steps."""
    d = load_task("cue", steps=500, n_train=200, n_test=101, seed=2)
    assert d.x_train.shape == (200, 500, 15) and d.x_test.shape == (101, 500, 15) and d.n_classes == 2
    assert d.loss_steps == 20 and d.memory == 480
    assert np.array_equal(np.bincount(d.y_train), [100, 100]) and abs(np.bincount(d.y_test)[0] - 50.5) == 0.5
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        assert set(np.unique(x)) == {0.0, 1.0}
        assert not x[:, 20:480].any()                      # the silent delay
        assert not x[:, :20, 10:].any() and not x[:, 480:, :10].any()
        shown, other = x[:, :20, :10].reshape(len(y), 20, 2, 5), None
        own = shown[np.arange(len(y)), :, y]              # (n, 20, 5): the class's group
        other = shown[np.arange(len(y)), :, 1 - y]
        assert not other.any() and own.any(axis=(1, 2)).all()
        assert abs(own.mean() - 0.5) < 0.05 and abs(x[:, 480:, 10:].mean() - 0.5) < 0.05  # rate, cue_rate 0.5
    short = load_task("cue", steps=60, n_train=4, n_test=2, rate=0.2, cue_rate=1.0, loss_steps=None)
    assert short.loss_steps is None and short.x_train[:, 40:, 10:].all()


def test_cue_splits_come_from_separate_streams():
    """The test set does not change with n_train (nor the training set with n_test)."""
    a, b = load_task("cue", steps=80, n_train=16, n_test=8), load_task("cue", steps=80, n_train=40, n_test=8)
    assert np.array_equal(a.x_test, b.x_test) and not np.array_equal(a.x_train, b.x_train[:16])
    c = load_task("cue", steps=80, n_train=16, n_test=30)
    assert np.array_equal(a.x_train, c.x_train)


# ---- SHD ----------------------------------------------------------------------------------------------------

TRAIN = dict(
    times=[[0.015, 0.0, 0.5, 0.5, 0.999, 1.0, 1.3], [0.2549], []],
    units=[[3, 0, 699, 699, 100, 5, 7], [350], []],
    labels=[4, 19, 0],
)


@pytest.fixture
def shd_dir(tmp_path):
    write_shd(tmp_path / "shd_train.h5", **TRAIN)
    write_shd(tmp_path / "shd_test.h5", times=[[0.055]], units=[[1]], labels=[7])
    return tmp_path


def test_shd_binning_by_hand(shd_dir):
    d = load_task("shd", data=str(shd_dir))
    assert d.x_train.shape == (3, 100, 700) and d.x_train.dtype == np.float32
    assert d.y_train.dtype == np.int64 and list(d.y_train) == [4, 19, 0] and list(d.y_test) == [7]
    expected = np.zeros((3, 100, 700), np.float32)
    expected[0, 1, 3] = 1      # 0.015 s -> bin 1
    expected[0, 0, 0] = 1      # 0.0 s -> bin 0
    expected[0, 50, 699] = 2   # two spikes in one bin add up
    expected[0, 99, 100] = 1   # 0.999 s -> last bin; 1.0 s and 1.3 s are past max_time: dropped
    expected[1, 25, 350] = 1   # 0.2549 s -> bin 25; sample 2 has no spikes
    assert np.array_equal(d.x_train, expected)
    assert d.x_test[0, 5, 1] == 1 and d.x_test.sum() == 1
    assert d.n_classes == 20 and d.loss_steps is None


def test_shd_pooling_and_time_options(shd_dir):
    d = load_task("shd", data=str(shd_dir / "shd_train.h5"), steps=10, max_time=2.0, channels=7)
    x = d.x_train[0]
    assert x.shape == (10, 7)
    # bin width 0.2 s; channel = unit * 7 // 700 (100 adjacent units each)
    assert x[0, 0] == 2           # units 3 and 0 at 0.015 s, 0.0 s
    assert x[2, 6] == 2           # unit 699 twice at 0.5 s
    assert x[4, 1] == 1           # unit 100 at 0.999 s
    assert x[5, 0] == 1           # unit 5 at 1.0 s (kept now that max_time is 2 s)
    assert x[6, 0] == 1           # unit 7 at 1.3 s
    assert x.sum() == 7
    assert d.x_train[1, 1, 3] == 1  # unit 350 at 0.2549 s


def test_shd_path_errors(tmp_path, shd_dir):
    with pytest.raises(ValueError, match="needs data=PATH"):
        load_task("shd")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task("shd", data=str(tmp_path / "nowhere"))
    (shd_dir / "shd_test.h5").unlink()
    with pytest.raises(FileNotFoundError, match="shd_test.h5"):
        load_task("shd", data=str(shd_dir))
    bad = tmp_path / "other" / "shd_train.h5"
    bad.parent.mkdir()
    import h5py
    with h5py.File(bad, "w") as f:
        f.create_dataset("labels", data=np.zeros(1, np.uint8))
    with h5py.File(bad.parent / "shd_test.h5", "w"):
        pass
    with pytest.raises(ValueError, match="lacks spikes/times"):
        load_task("shd", data=str(bad))


# ---- registry and errors ------------------------------------------------------------------------------------

def test_registry_lists_all_tasks():
    assert {"resonance", "digits", "mnist1d", "cue", "shd", "fsdd"} <= set(TASKS)


def test_unknown_task_lists_known_names():
    with pytest.raises(ValueError, match="unknown task 'nope'.*resonance.*digits.*mnist1d.*shd.*fsdd"):
        load_task("nope")


def test_fsdd_needs_data_without_importing_its_module():
    with pytest.raises(ValueError, match="task 'fsdd' needs data=PATH"):
        load_task("fsdd")


@pytest.mark.parametrize("name, options, message", [
    ("digits", dict(bogus=1), "no option 'bogus'"),
    ("resonance", dict(steps=0), "steps must be positive"),
    ("resonance", dict(f_max=0.6), "Nyquist"),
    ("resonance", dict(loss_steps=1000), "loss_steps must be"),
    ("mnist1d", dict(channels=3), "channels must be 1"),
    ("digits", dict(data="/tmp"), "takes no data path"),
    ("cue", dict(steps=59), "steps must be >= 60"),
    ("cue", dict(rate=1.5), "probabilities"),
    ("cue", dict(loss_steps=0), "loss_steps must be"),
])
def test_bad_options_give_clear_errors(name, options, message):
    with pytest.raises(ValueError, match=message):
        load_task(name, **options)
