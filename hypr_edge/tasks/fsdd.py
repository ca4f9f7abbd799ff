"""`fsdd`: the Free Spoken Digit Dataset (8 kHz WAVs `{digit}_{speaker}_{take}.wav`) as log-mel sequences.

Per-file log-mel features (hypr_edge.audio.log_mel) are cached in one .npz per front-end setting and file
list. Then: per-band normalisation with training-set statistics, pad (silence first) or crop (window
centred on the energy) to `frames` frames, and encode as currents or as delta spikes. docs/fsdd.md has the
rules, the splits and the measured figures.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import audio
from ._util import check_positive, resolve_loss_steps
from .base import Dataset

RATE = 8000
N_CLASSES = 10
TEST_TAKES = range(5)      # conventional FSDD split: takes 0-4 test, the rest train
COVER_S = 0.66             # measured 95th percentile of FSDD durations (docs/fsdd.md): the default length
LOSS_FRACTION = 0.3        # default loss window: the last 30 % of the frames
SILENCE_PERCENTILE = 5     # pad value: per-band 5th percentile of the training frames (quiet background)
NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
DEFAULT_CACHE = Path("~/.cache/hypr-edge/fsdd")


@dataclass(frozen=True)
class FsddOptions:
    """Every option of the fsdd task; the first group alone decides the cached per-file features."""
    bands: int = 32
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    preemphasis: float = 0.97
    fmin: float = 0.0
    fmax: float = 4000.0
    floor: float = 1e-8
    # below: applied after the cache
    frames: int | None = None           # None: enough frames for COVER_S seconds
    encoding: str = "current"           # "current" (normalised log-mel) or "delta" (2 x bands spike channels)
    delta_threshold: float = 0.5        # delta encoding step, in training-set standard deviations
    loss_steps: int | str | None = "auto"
    cache_dir: str | os.PathLike | None = None   # None: ~/.cache/hypr-edge/fsdd
    cache: bool = True

    FRONT_END = ("bands", "frame_ms", "hop_ms", "preemphasis", "fmin", "fmax", "floor")

    def front_end(self) -> dict:
        return {k: getattr(self, k) for k in self.FRONT_END}

    @property
    def n_frames(self) -> int:
        if self.frames is not None:
            return self.frames
        frame, hop = round(RATE * self.frame_ms / 1000), round(RATE * self.hop_ms / 1000)
        return audio.frame_count(round(COVER_S * RATE), frame, hop)


def fsdd_options(**options) -> FsddOptions:
    """Checked options: one-line ValueErrors for unknown names and bad values."""
    known = [f.name for f in fields(FsddOptions)]
    for key in options:
        if key not in known:
            raise ValueError(f"task 'fsdd' has no option {key!r}; its options: {', '.join(known)}")
    o = FsddOptions(**options)
    if not 16 <= o.bands <= 40:
        raise ValueError(f"task 'fsdd': bands must be 16..40, got {o.bands}")
    if not 0 <= o.fmin < o.fmax <= RATE / 2:
        raise ValueError(f"task 'fsdd': need 0 <= fmin < fmax <= {RATE // 2} Hz, got fmin={o.fmin}, fmax={o.fmax}")
    if o.encoding not in ("current", "delta"):
        raise ValueError(f"task 'fsdd': encoding must be 'current' or 'delta', got {o.encoding!r}")
    check_positive("fsdd", frame_ms=o.frame_ms, hop_ms=o.hop_ms, floor=o.floor, delta_threshold=o.delta_threshold)
    if o.frames is not None:
        check_positive("fsdd", frames=o.frames)
    return o


class Utterance(NamedTuple):
    digit: int
    speaker: str
    take: int
    path: Path


def list_recordings(data: str | os.PathLike) -> list[Utterance]:
    """The WAVs of `data` (the folder itself or its `recordings/`), sorted by name; one-line errors."""
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"task 'fsdd': data folder {str(folder)!r} does not exist")
    if (folder / "recordings").is_dir():
        folder = folder / "recordings"
    out = []
    for path in sorted(folder.glob("*.wav")):
        m = NAME.match(path.name)
        if m is None:
            raise ValueError(f"task 'fsdd': {str(path)!r} is not named {{digit}}_{{speaker}}_{{take}}.wav")
        out.append(Utterance(int(m[1]), m[2], int(m[3]), path))
    if not out:
        raise ValueError(f"task 'fsdd': no .wav files in {str(folder)!r}")
    return out


def speakers_of(utts: list[Utterance]) -> list[str]:
    return sorted({u.speaker for u in utts})


def _cache_path(utts: list[Utterance], o: FsddOptions) -> Path:
    """One file per (front-end options, file list): names, sizes and mtimes, so an edited WAV misses."""
    h = hashlib.sha256(json.dumps(o.front_end(), sort_keys=True).encode())
    for u in utts:
        st = u.path.stat()
        h.update(f"{u.path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    folder = Path(o.cache_dir if o.cache_dir is not None else DEFAULT_CACHE).expanduser()
    return folder / f"logmel-{h.hexdigest()[:24]}.npz"


def compute_features(utts: list[Utterance], o: FsddOptions) -> list[np.ndarray]:
    """(frames_i, bands) float32 log-mel of each file (the slow part that the cache skips)."""
    return [audio.log_mel(audio.read_wav(u.path, rate=RATE), RATE, **o.front_end()) for u in utts]


def _cache_entry_fits(lengths: np.ndarray, features: np.ndarray, n: int, bands: int) -> bool:
    """A cache entry is used only if it is what load_features writes: one length >= 1 per file, summing to the
    rows of a finite float (rows, bands) array (anything else is recomputed, never split wrongly)."""
    return (lengths.ndim == 1 and lengths.dtype.kind in "iu" and len(lengths) == n and bool(np.all(lengths >= 1))
            and features.ndim == 2 and features.dtype.kind == "f" and features.shape[1] == bands
            and int(lengths.sum()) == features.shape[0] and bool(np.all(np.isfinite(features))))


def load_features(utts: list[Utterance], o: FsddOptions) -> list[np.ndarray]:
    """Per-file features, from the cache when an entry for these options and files exists."""
    if not o.cache:
        return compute_features(utts, o)
    path = _cache_path(utts, o)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                lengths, features = z["lengths"], z["features"]
            if _cache_entry_fits(lengths, features, len(utts), o.bands):
                return np.split(features, np.cumsum(lengths)[:-1])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged entry (an interrupted copy, a full disk): compute again and overwrite it
    feats = compute_features(utts, o)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, features=np.concatenate(feats), lengths=np.array([len(f) for f in feats]))
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return feats


class Normaliser(NamedTuple):
    """Per-band statistics of the training frames (before padding): the only data-dependent step."""
    mean: np.ndarray
    std: np.ndarray
    silence: np.ndarray   # log-mel pad row: the quiet background of the training recordings

    @classmethod
    def fit(cls, feats: list[np.ndarray]) -> "Normaliser":
        allf = np.concatenate(feats).astype(np.float64)
        return cls(allf.mean(0), allf.std(0) + 1e-6, np.percentile(allf, SILENCE_PERCENTILE, axis=0))

    def __call__(self, f: np.ndarray) -> np.ndarray:
        return (f - self.mean) / self.std


def fit_length(f: np.ndarray, frames: int, silence: np.ndarray) -> np.ndarray:
    """Exactly `frames` rows. Shorter: silence rows first, so every utterance ends on the last frame (where the
    loss window is). Longer: the window centred on the energy centroid, which keeps the voiced part."""
    n = len(f)
    if n <= frames:
        return np.concatenate([np.broadcast_to(silence, (frames - n, f.shape[1])), f])
    energy = np.exp(f - f.max()).sum(1)  # log-mel back to linear energy per frame
    centre = float((np.arange(n) * energy).sum() / energy.sum())
    start = int(np.clip(round(centre - frames / 2), 0, n - frames))
    return f[start:start + frames]


def delta_spikes(x: np.ndarray, threshold: float, start: np.ndarray) -> np.ndarray:
    """Send-on-delta: (n, T, B) -> (n, T, 2B) 0/1 spikes. Per band a reference starts at `start` (silence);
    when x > ref + threshold an UP spike (channel b) fires and ref += threshold, when x < ref - threshold a
    DOWN spike (channel B + b) fires and ref -= threshold. At most one spike per channel and step, so a jump
    of k thresholds is spread over k steps."""
    ref = np.broadcast_to(start, x[:, 0].shape).astype(np.float64).copy()
    out = np.zeros(x.shape[:2] + (2 * x.shape[2],), dtype=np.float32)
    bands = x.shape[2]
    for t in range(x.shape[1]):
        up, down = x[:, t] > ref + threshold, x[:, t] < ref - threshold
        ref += threshold * (up.astype(np.float64) - down)
        out[:, t, :bands], out[:, t, bands:] = up, down
    return out


def encode(feats: list[np.ndarray], norm: Normaliser, o: FsddOptions) -> np.ndarray:
    """Normalised, length-fitted and encoded (n, T, inputs) float32 array."""
    t = o.n_frames
    x = norm(np.stack([fit_length(f, t, norm.silence) for f in feats]) if feats else np.zeros((0, t, o.bands)))
    if o.encoding == "delta":
        return delta_spikes(x, o.delta_threshold, norm(norm.silence))
    return x.astype(np.float32)


def _pick(utts, feats, keep) -> tuple[list[np.ndarray], np.ndarray]:
    idx = [i for i, u in enumerate(utts) if keep(u)]
    return [feats[i] for i in idx], np.array([utts[i].digit for i in idx], dtype=np.int64)


def _check_speaker(utts: list[Utterance], speaker: str | None) -> str:
    known = speakers_of(utts)
    if speaker not in known:
        raise ValueError(f"task 'fsdd': unknown speaker {speaker!r}; known speakers: {', '.join(known)}")
    if len(known) < 2:
        raise ValueError(f"task 'fsdd': a speaker split needs at least two speakers, found {known}")
    return speaker


def _describe(o: FsddOptions, what: str) -> str:
    inputs = 2 * o.bands if o.encoding == "delta" else o.bands
    return (f"Free Spoken Digit Dataset, {what}: {o.bands}-band log-mel, {o.frame_ms:g} ms frames every "
            f"{o.hop_ms:g} ms, {o.n_frames} frames, {o.encoding} encoding ({inputs} inputs)")


def _dataset(train, y_train, test, y_test, o: FsddOptions, seed: int, what: str,
             norm: Normaliser | None = None) -> tuple[Dataset, Normaliser]:
    """Dataset from per-file features; `norm` None: fitted on `train` (the only place statistics are taken)."""
    if not train:
        raise ValueError(f"task 'fsdd': the training set of the {what} is empty")
    norm = Normaliser.fit(train) if norm is None else norm
    t = o.n_frames
    loss_steps = resolve_loss_steps("fsdd", o.loss_steps, t, max(1, round(LOSS_FRACTION * t)))
    order = np.random.default_rng(seed).permutation(len(train))  # seed only shuffles the training order
    ds = Dataset(name="fsdd", x_train=encode(train, norm, o)[order], y_train=y_train[order],
                 x_test=encode(test, norm, o), y_test=y_test, n_classes=N_CLASSES, loss_steps=loss_steps,
                 description=_describe(o, what), front_end=front_end_record(o, norm))
    return ds, norm


def front_end_record(o: FsddOptions, norm: Normaliser) -> dict:
    """Everything that turns a WAV into this task's inputs (hypr_edge.stream_inputs.wav_inputs repeats `encode`
    with it): training records it in the model's info, so `hypr-edge stream` computes the same inputs."""
    return {"kind": "fsdd-log-mel", "rate": RATE, **o.front_end(), "frames": o.n_frames, "encoding": o.encoding,
            "delta_threshold": o.delta_threshold, "mean": norm.mean.tolist(), "std": norm.std.tolist(),
            "silence": norm.silence.tolist()}


def load_fsdd(data: str | os.PathLike, seed: int = 0, split: str = "take", test_speaker: str | None = None,
              **options) -> Dataset:
    """FSDD as a Dataset. split="take": takes 0-4 test, the rest train (all speakers);
    split="speaker": every take of `test_speaker` is test, the other speakers train. Options: FsddOptions."""
    o = fsdd_options(**options)
    utts = list_recordings(data)
    if split == "take":
        if test_speaker is not None:
            raise ValueError("task 'fsdd': test_speaker is only for split='speaker'")
        what, is_test = "take split (takes 0-4 test)", (lambda u: u.take in TEST_TAKES)
    elif split == "speaker":
        speaker = _check_speaker(utts, test_speaker)
        what, is_test = f"speaker split ({speaker} test)", (lambda u: u.speaker == speaker)
    else:
        raise ValueError(f"task 'fsdd': split must be 'take' or 'speaker', got {split!r}")
    feats = load_features(utts, o)
    train, y_train = _pick(utts, feats, lambda u: not is_test(u))
    test, y_test = _pick(utts, feats, is_test)
    return _dataset(train, y_train, test, y_test, o, seed, what)[0]


class SpeakerSplit(NamedTuple):
    pretrain: Dataset   # train: the other speakers (all takes); test: every take of the held-out speaker
    adapt: Dataset      # the held-out speaker only: train takes 5-49, test takes 0-4; pretraining statistics


def fsdd_speaker_split(data: str | os.PathLike, speaker: str, seed: int = 0, **options) -> SpeakerSplit:
    """Pretraining set without `speaker`, and that speaker's own takes split for on-device adaptation; both
    normalised (and padded, and delta-encoded) with the statistics of the pretraining training set."""
    o = fsdd_options(**options)
    utts = list_recordings(data)
    _check_speaker(utts, speaker)
    feats = load_features(utts, o)
    train, y_train = _pick(utts, feats, lambda u: u.speaker != speaker)
    held, y_held = _pick(utts, feats, lambda u: u.speaker == speaker)
    pretrain, norm = _dataset(train, y_train, held, y_held, o, seed, f"speaker split ({speaker} test)")
    a_train, ya_train = _pick(utts, feats, lambda u: u.speaker == speaker and u.take not in TEST_TAKES)
    a_test, ya_test = _pick(utts, feats, lambda u: u.speaker == speaker and u.take in TEST_TAKES)
    adapt, _ = _dataset(a_train, ya_train, a_test, ya_test, o, seed,
                        f"adaptation to {speaker} (takes 5+ train, 0-4 test, pretraining statistics)", norm)
    return SpeakerSplit(pretrain, adapt)


# ---- synthetic stand-in with the same names and format, for CI without the real recordings ----

def _digit_pattern(digit: int) -> np.ndarray:
    """(segments, 3): a fixed (F1 Hz, F2 Hz, relative length) per segment; fixed per digit, not per seed."""
    rng = np.random.default_rng(1000 + digit)
    segs = 2 + digit % 2
    return np.stack([rng.uniform(250, 900, segs), rng.uniform(900, 3200, segs), rng.uniform(0.5, 1.5, segs)], 1)


def _synth(rng: np.random.Generator, digit: int, pitch: float, tempo: float, f0: float) -> np.ndarray:
    """One utterance: formant-like tone pairs per segment, amplitude-modulated at the speaker's f0, with
    per-take jitter of frequency, length and loudness, silence margins and background noise."""
    parts = []
    for f1, f2, rel in _digit_pattern(digit):
        n = int(RATE * 0.13 * rel * tempo * rng.uniform(0.8, 1.2))
        t = np.arange(n) / RATE
        j = pitch * rng.uniform(0.85, 1.15)
        voice = 1 + 0.6 * np.sin(2 * np.pi * f0 * rng.uniform(0.95, 1.05) * t)
        tone = np.sin(2 * np.pi * f1 * j * t + rng.uniform(0, 6.3)) + 0.5 * np.sin(2 * np.pi * f2 * j * t)
        parts.append(np.hanning(n) * voice * tone)
    speech = np.concatenate(parts) * rng.uniform(0.1, 0.3)
    margin = rng.integers(80, 800, 2)
    x = np.concatenate([np.zeros(margin[0]), speech, np.zeros(margin[1])])
    return x + rng.uniform(0.02, 0.1) * rng.standard_normal(len(x))


def make_fsdd_standin(folder: str | os.PathLike, speakers=("alba", "bo", "cyd"), digits=range(10),
                      takes=range(8), seed: int = 0) -> Path:
    """Write synthetic 8 kHz 16-bit mono WAVs `{digit}_{speaker}_{take}.wav` into `folder`; returns it.
    Each digit is a fixed sequence of 2-3 tone pairs; each speaker shifts pitch and tempo."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for s_i, speaker in enumerate(speakers):
        srng = np.random.default_rng([seed, s_i])
        pitch, tempo, f0 = srng.uniform(0.88, 1.12), srng.uniform(0.8, 1.25), srng.uniform(90, 220)
        for digit in digits:
            for take in takes:
                rng = np.random.default_rng([seed, s_i, digit, take])
                audio.write_wav(folder / f"{digit}_{speaker}_{take}.wav", _synth(rng, digit, pitch, tempo, f0), RATE)
    return folder


__all__ = ["FsddOptions", "SpeakerSplit", "load_fsdd", "fsdd_speaker_split", "make_fsdd_standin",
           "list_recordings", "load_features", "compute_features", "fit_length", "delta_spikes"]
