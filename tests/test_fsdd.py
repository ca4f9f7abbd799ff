"""The spoken-digit front-end: mel filterbank, WAV I/O, splits, cache, encoding, errors (docs/fsdd.md).
Runs on a generated stand-in always, and on a few real FSDD recordings when ../shared/data/fsdd exists."""
from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from hypr_edge import audio
from hypr_edge.tasks import fsdd, load_task

REAL = Path(__file__).resolve().parents[1].parent / "shared/data/fsdd/recordings"
SPEAKERS = ("alba", "bo", "cyd")
TAKES = range(7)  # 0-4 test, 5-6 train


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return fsdd.make_fsdd_standin(tmp_path_factory.mktemp("fsdd") / "recordings", speakers=SPEAKERS, takes=TAKES)


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


# ---- mel filterbank and features ----

@pytest.mark.parametrize("bands", [16, 32, 40])
def test_mel_filters_are_triangles_on_mel_spaced_centres(bands):
    e = audio.mel_edges(bands, 0.0, 4000.0)
    assert e[0] == pytest.approx(0.0) and e[-1] == pytest.approx(4000.0)
    assert np.allclose(np.diff(audio.hz_to_mel(e)), audio.hz_to_mel(4000.0) / (bands + 1))
    w = audio.mel_filterbank(bands, e, 0.0, 4000.0)       # evaluated at the edges themselves
    assert np.allclose(w[:, 1:-1], np.eye(bands))             # 1 at its own centre, 0 at the others
    for b in range(bands):                                    # linear in Hz on each side: 1/4 and 3/4 points
        lo, c, hi = e[b:b + 3]
        q = audio.mel_filterbank(bands, [lo + (c - lo) / 4, c - (c - lo) / 4, c + (hi - c) / 4, hi - (hi - c) / 4],
                                 0.0, 4000.0)[b]
        assert np.allclose(q, [0.25, 0.75, 0.75, 0.25])
        assert audio.mel_filterbank(bands, [lo, hi], 0.0, 4000.0)[b].tolist() == [0.0, 0.0]


def test_mel_filters_cover_0_to_4khz():
    f = np.linspace(0.0, 4000.0, 8001)
    w = audio.mel_filterbank(32, f, 0.0, 4000.0)
    e = audio.mel_edges(32, 0.0, 4000.0)
    inner = (f > 0) & (f < 4000)
    assert (w.sum(0)[inner] > 0).all() and w[:, 0].sum() == 0 and w[:, -1].sum() == 0
    between = (f >= e[1]) & (f <= e[-2])                      # shared edges: the weights sum to exactly 1
    assert np.allclose(w.sum(0)[between], 1.0)
    fft = audio.mel_filterbank(40, np.fft.rfftfreq(256, 1 / 8000), 0.0, 4000.0)  # the front-end's grid
    assert (fft.max(1) > 0).all(), "a mel filter falls between FFT bins"


@pytest.mark.parametrize("hz", [300.0, 1000.0, 2500.0])
def test_pure_tone_lands_in_the_nearest_band(hz):
    t = np.arange(4000) / 8000
    feats = audio.log_mel(0.5 * np.sin(2 * np.pi * hz * t), 8000, bands=32)
    centres = audio.mel_edges(32, 0.0, 4000.0)[1:-1]
    assert feats.shape == (audio.frame_count(4000, 200, 80), 32)
    assert int(np.argmax(feats.mean(0))) == int(np.argmin(abs(audio.hz_to_mel(centres) - audio.hz_to_mel(hz))))


def test_frame_count():
    assert [audio.frame_count(n, 200, 80) for n in (0, 150, 200, 201, 280, 281)] == [1, 1, 1, 2, 2, 3]


# ---- WAV I/O ----

def test_wav_round_trip(tmp_path):
    x = np.random.default_rng(0).uniform(-0.9, 0.9, 1234)
    audio.write_wav(tmp_path / "a.wav", x, 8000)
    y = audio.read_wav(tmp_path / "a.wav", rate=8000)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= 0.5 / 32768 + 1e-7


def _raw_wav(path, channels, width, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(channels * width * 100))


@pytest.mark.parametrize("channels,width,rate,match", [
    (2, 2, 8000, "need mono 16-bit"), (1, 1, 8000, "need mono 16-bit"), (1, 2, 16000, "16000 Hz, expected 8000")])
def test_wav_reader_refuses_other_formats(tmp_path, channels, width, rate, match):
    _raw_wav(tmp_path / "bad.wav", channels, width, rate)
    with pytest.raises(ValueError, match=match) as err:
        audio.read_wav(tmp_path / "bad.wav", rate=8000)
    assert "bad.wav" in str(err.value)
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(ValueError, match="junk.wav"):
        audio.read_wav(tmp_path / "junk.wav")


# ---- lengths and encoding ----

def test_fit_length_pads_silence_first_and_crops_around_the_energy():
    silence = np.full(4, -9.0)
    short = np.arange(12.0).reshape(3, 4)
    out = fsdd.fit_length(short, 5, silence)
    assert np.array_equal(out[:2], np.full((2, 4), -9.0)) and np.array_equal(out[2:], short)
    long = np.full((200, 4), -10.0)
    long[150:160] = 0.0                                        # the loud part, far from the middle
    crop = fsdd.fit_length(long, 40, silence)
    loud = np.flatnonzero(crop[:, 0] == 0.0)
    assert crop.shape == (40, 4) and len(loud) == 10 and abs(loud.mean() - 19.5) <= 1.0  # whole and centred


def test_delta_spikes_follow_the_signal_one_threshold_per_step():
    x = np.array([0, 0.4, 1.2, 1.2, 1.2, 0.3, -0.2, -0.2], dtype=float)[None, :, None]  # (1, T, 1)
    s = fsdd.delta_spikes(x, 0.5, np.zeros(1))
    assert s.shape == (1, 8, 2)
    assert s[0, :, 0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]     # UP twice: the reference climbs 0 -> 1.0
    assert s[0, :, 1].tolist() == [0, 0, 0, 0, 0, 1, 1, 0]     # DOWN twice: 1.0 -> 0.5 -> 0.0


# ---- the task on the stand-in ----

def _identity_features(utts, o):
    """Band 0 = take, band 1 = speaker number: survives the (increasing, affine) normalisation in order."""
    out = []
    for u in utts:
        f = np.zeros((10, o.bands), dtype=np.float32)
        f[:, 0], f[:, 1] = u.take, SPEAKERS.index(u.speaker)
        f[:, 2] = np.arange(10)                               # non-constant bands get a finite std
        out.append(f)
    return out


def test_take_split_has_no_take_leakage(standin, monkeypatch):
    monkeypatch.setattr(fsdd, "compute_features", _identity_features)
    ds = fsdd.load_fsdd(standin, cache=False)
    n = len(SPEAKERS) * 10
    assert ds.x_train.shape[0] == 2 * n and ds.x_test.shape[0] == 5 * n
    assert ds.x_train.max(axis=(0, 1))[0] == ds.x_train[:, -1, 0].max()   # the utterance ends on the last frame
    assert ds.x_test[:, -1, 0].max() < ds.x_train[:, -1, 0].min()         # test takes < every train take
    # per-band statistics of the training takes only (5 and 6: mean 5.5, std 0.5): take t -> (t - 5.5) / 0.5
    assert np.allclose(np.unique(ds.x_train[:, -1, 0]), [-1, 1], atol=1e-4)
    assert np.allclose(np.unique(ds.x_test[:, -1, 0]), [-11, -9, -7, -5, -3], atol=1e-3)
    assert np.allclose(np.unique(ds.x_train[:, -1, 1]), [-1.2247, 0, 1.2247], atol=1e-3)  # speakers 0, 1, 2
    assert sorted(np.bincount(ds.y_test)) == [5 * len(SPEAKERS)] * 10


def test_speaker_split_has_no_speaker_leakage(standin, monkeypatch):
    monkeypatch.setattr(fsdd, "compute_features", _identity_features)
    ds = fsdd.load_fsdd(standin, split="speaker", test_speaker="bo", cache=False)
    assert ds.x_test.shape[0] == 10 * len(TAKES) and ds.x_train.shape[0] == 2 * 10 * len(TAKES)
    test_spk, train_spk = set(ds.x_test[:, -1, 1].round(4)), set(ds.x_train[:, -1, 1].round(4))
    assert len(test_spk) == 1 and len(train_spk) == 2 and not test_spk & train_spk


def test_speaker_adaptation_split_uses_pretraining_statistics(standin, cache):
    split = fsdd.fsdd_speaker_split(standin, "cyd", cache_dir=cache)
    pre, adapt = split
    assert adapt.x_train.shape[0] == 10 * 2 and adapt.x_test.shape[0] == 10 * 5
    assert adapt.x_train.shape[1:] == pre.x_train.shape[1:]
    # pretrain.x_test holds every take of cyd with the pretraining normalisation; adapt's rows are among them
    for x in np.concatenate([adapt.x_train, adapt.x_test]):
        assert np.isclose(pre.x_test, x).all(axis=(1, 2)).sum() == 1
    same = fsdd.load_fsdd(standin, split="speaker", test_speaker="cyd", cache_dir=cache)
    assert np.array_equal(same.x_train, pre.x_train) and np.array_equal(same.x_test, pre.x_test)


def test_dataset_contract_and_encodings(standin, cache):
    ds = fsdd.load_fsdd(standin, cache_dir=cache, bands=24, frames=50)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.shape[1:] == (50, 24) and ds.n_classes == 10 and ds.loss_steps == 15
    assert abs(ds.x_train.mean()) < 1.0 and np.isfinite(ds.x_train).all()
    sp = fsdd.load_fsdd(standin, cache_dir=cache, bands=24, frames=50, encoding="delta", loss_steps=None)
    assert sp.x_train.shape[1:] == (50, 48) and sp.loss_steps is None
    assert set(np.unique(sp.x_train)) == {0.0, 1.0}
    assert 0.005 < sp.x_train.mean() < 0.3                       # a sparse but non-silent spike code
    padded = fsdd.load_fsdd(standin, cache_dir=cache, frames=100, encoding="delta")  # longer than every clip
    assert padded.x_train[:, :10].sum() == 0 < padded.x_train.sum()  # leading silence pads give no spikes
    other = fsdd.load_fsdd(standin, seed=1, cache_dir=cache, bands=24, frames=50)
    assert not np.array_equal(other.y_train, ds.y_train)          # seed shuffles the training order...
    assert np.array_equal(other.x_test, ds.x_test)                # ...and nothing else
    assert np.array_equal(np.sort(other.x_train.sum((1, 2))), np.sort(ds.x_train.sum((1, 2))))


def test_registry_loads_fsdd(standin, cache):
    ds = load_task("fsdd", data=str(standin), cache_dir=cache)
    assert ds.name == "fsdd" and ds.x_train.shape[1:] == (fsdd.fsdd_options().n_frames, 32)


def test_cache_hit_skips_the_feature_function(standin, cache, monkeypatch):
    calls = []
    real = fsdd.compute_features
    monkeypatch.setattr(fsdd, "compute_features", lambda utts, o: calls.append(1) or real(utts, o))
    a = fsdd.load_fsdd(standin, cache_dir=cache)
    b = fsdd.load_fsdd(standin, cache_dir=cache, frames=30, encoding="delta")  # after the cache: still a hit
    assert len(calls) == 1 and b.x_train.shape[1] == 30
    assert np.array_equal(fsdd.load_fsdd(standin, cache_dir=cache).x_train, a.x_train)
    assert len(calls) == 1
    fsdd.load_fsdd(standin, cache_dir=cache, bands=20)                           # front-end option: a miss
    assert len(calls) == 2
    path = standin / "3_bo_6.wav"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))                 # an edited file: a miss
    fsdd.load_fsdd(standin, cache_dir=cache)
    assert len(calls) == 3
    assert np.array_equal(fsdd.load_fsdd(standin, cache=False).x_train, a.x_train)  # cached == recomputed
    assert len(calls) == 4 and len(os.listdir(cache)) == 3                          # cache=False: not stored
    for entry in os.listdir(cache):
        with open(os.path.join(cache, entry), "r+b") as f:
            f.truncate(100)                                                  # damaged entries: recomputed
    assert np.array_equal(fsdd.load_fsdd(standin, cache_dir=cache).x_train, a.x_train)
    assert len(calls) == 5


# ---- errors ----

def test_clear_errors(standin, tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fsdd.load_fsdd(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .wav files"):
        fsdd.load_fsdd(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown speaker 'zed'; known speakers: alba, bo, cyd"):
        fsdd.load_fsdd(standin, split="speaker", test_speaker="zed", cache_dir=cache)
    with pytest.raises(ValueError, match="unknown speaker None"):
        fsdd.load_fsdd(standin, split="speaker", cache_dir=cache)
    with pytest.raises(ValueError, match="unknown speaker"):
        fsdd.fsdd_speaker_split(standin, "zed", cache_dir=cache)
    with pytest.raises(ValueError, match="split must be"):
        fsdd.load_fsdd(standin, split="digit")
    with pytest.raises(ValueError, match="only for split='speaker'"):
        fsdd.load_fsdd(standin, test_speaker="bo")
    with pytest.raises(ValueError, match="no option 'band'"):
        fsdd.load_fsdd(standin, band=20)
    with pytest.raises(ValueError, match="bands must be 16..40"):
        fsdd.load_fsdd(standin, bands=64)
    odd = tmp_path / "odd"
    odd.mkdir()
    shutil.copy(standin / "0_bo_0.wav", odd / "zero.wav")
    with pytest.raises(ValueError, match="zero.wav.*is not named"):
        fsdd.load_fsdd(odd)
    os.remove(odd / "zero.wav")
    _raw_wav(odd / "1_bo_0.wav", 1, 2, 16000)
    with pytest.raises(ValueError, match="1_bo_0.wav.*16000 Hz"):
        fsdd.load_fsdd(odd, cache=False)


# ---- a few real recordings ----

@pytest.mark.skipif(not REAL.is_dir(), reason="real FSDD recordings not beside the repository")
def test_real_recordings(tmp_path):
    names = [f"{d}_{s}_{t}.wav" for d in range(10) for s in ("george", "theo") for t in (0, 7)]
    for n in names:
        shutil.copy(REAL / n, tmp_path / n)
    ds = fsdd.load_fsdd(tmp_path, cache_dir=str(tmp_path / "cache"))
    assert ds.x_train.shape[0] == ds.x_test.shape[0] == 20 and np.isfinite(ds.x_train).all()
    pre, adapt = fsdd.fsdd_speaker_split(tmp_path, "theo", cache=False)
    assert pre.x_train.shape[0] == 20 and adapt.x_train.shape[0] == adapt.x_test.shape[0] == 10
    utts = fsdd.list_recordings(tmp_path)
    feats = fsdd.compute_features(utts, fsdd.fsdd_options())
    for u, f in zip(utts, feats):                              # 10 ms hop: one frame per 80 samples
        assert len(f) == audio.frame_count(len(audio.read_wav(u.path)), 200, 80)
