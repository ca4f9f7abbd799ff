"""Audio front-end in NumPy: 16-bit PCM WAV I/O (standard-library `wave`) and log-mel filterbank features.

Pipeline per utterance (docs/fsdd.md): pre-emphasis -> frames (25 ms, 10 ms hop) -> Hann window ->
|rFFT|^2 -> triangular mel filters (HTK mel scale) -> log with a floor. Normalisation and padding need
training-set statistics, so they live with the task (hypr_edge.tasks.fsdd), not here.
"""
from __future__ import annotations

import os
import struct
import wave

import numpy as np

PCM_SCALE = 32768.0  # int16 full scale -> [-1, 1)


def read_wav(path: str | os.PathLike, rate: int | None = None) -> np.ndarray:
    """Samples of a mono 16-bit PCM WAV as float32 in [-1, 1); ValueError naming the file otherwise (not a WAV,
    another format, truncated, no samples, unreadable). `rate`: the sample rate the file must have (None: any).
    The sizes in the header are checked against the file's size before anything is read."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        with wave.open(name, "rb") as w:
            channels, width, framerate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if channels != 1 or width != 2:
                raise ValueError(f"{name!r}: need mono 16-bit PCM, got {channels} channel(s) of {8 * width}-bit")
            raw = w.readframes(min(n, size // 2))
    except (wave.Error, EOFError, struct.error, OverflowError, OSError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise ValueError(f"{name!r}: not a readable PCM WAV file ({why})") from None
    if rate is not None and framerate != rate:
        raise ValueError(f"{name!r}: sample rate {framerate} Hz, expected {rate} Hz (no resampling)")
    if len(raw) != 2 * n:
        raise ValueError(f"{name!r}: truncated: the header declares {n} samples, the file holds {len(raw) // 2}")
    if n == 0:
        raise ValueError(f"{name!r}: holds no samples")
    return (np.frombuffer(raw, dtype="<i2").astype(np.float32) / PCM_SCALE)


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int) -> None:
    """Write float samples in [-1, 1] as a mono 16-bit PCM WAV (clipped, rounded to the nearest step)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * PCM_SCALE), -32768, 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of `hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_edges(bands: int, fmin: float, fmax: float) -> np.ndarray:
    """bands + 2 frequencies (Hz) equally spaced in mel: filter b rises from edge b, peaks at b+1, falls to b+2."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), bands + 2))


def mel_filterbank(bands: int, freqs: np.ndarray, fmin: float, fmax: float) -> np.ndarray:
    """(bands, len(freqs)) triangular weights, peak 1 at each mel-spaced centre, linear in Hz on each side.
    Neighbouring triangles share edges, so the weights sum to 1 between the first and the last centre."""
    if not 0 <= fmin < fmax:
        raise ValueError(f"mel filterbank: need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    e = mel_edges(bands, fmin, fmax)
    lo, centre, hi = e[:-2, None], e[1:-1, None], e[2:, None]
    f = np.asarray(freqs, dtype=np.float64)[None, :]
    rising, falling = (f - lo) / (centre - lo), (hi - f) / (hi - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def frame_count(n_samples: int, frame: int, hop: int) -> int:
    """Frames of `frame` samples every `hop` samples; a clip shorter than one frame gives one (zero-padded) frame."""
    return 1 + max(0, -(-(n_samples - frame) // hop))


def log_mel(signal: np.ndarray, rate: int, *, bands: int = 32, frame_ms: float = 25.0, hop_ms: float = 10.0,
            preemphasis: float = 0.97, fmin: float = 0.0, fmax: float | None = None,
            floor: float = 1e-8) -> np.ndarray:
    """(frames, bands) float32 log mel energies of one utterance (natural log of max(energy, floor)).
    The last frame is zero-padded to full length; fmax defaults to the Nyquist frequency."""
    frame, hop = round(rate * frame_ms / 1000), round(rate * hop_ms / 1000)
    if frame < 2 or hop < 1:
        raise ValueError(f"log_mel: frame_ms={frame_ms}, hop_ms={hop_ms} give fewer than 2 samples per frame")
    x = np.asarray(signal, dtype=np.float64)
    x = np.append(x[:1], x[1:] - preemphasis * x[:-1])  # boosts the weak high formants of speech
    n = frame_count(len(x), frame, hop)
    x = np.pad(x, (0, (n - 1) * hop + frame - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop] * np.hanning(frame)
    n_fft = 1 << (frame - 1).bit_length()  # next power of two: 200 samples -> 256
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2
    weights = mel_filterbank(bands, np.fft.rfftfreq(n_fft, 1.0 / rate), fmin, rate / 2 if fmax is None else fmax)
    return np.log(np.maximum(power @ weights.T, floor)).astype(np.float32)
