"""`resonance`: find the frequency of a sinusoidal burst hidden in noise.

Each sequence is Gaussian noise; at a random onset in the first half a sine burst (random phase and
amplitude, smooth 10-step fade-in) starts and lasts to the end. Its frequency picks the class, from
`n_classes` log-spaced frequencies between `f_min` and `f_max` (cycles per step), with a small per-sample
jitter. The signal s is presented as two non-negative currents, relu(s) and relu(-s), so that a weighted
pair (w, -w) gives back the signed signal. With random phase the mean of relu(sin) is 1/pi whatever the
frequency, so the time-averaged input carries (almost) no class information: the task needs timing,
which is what resonating (BRF) neurons detect.
"""
from __future__ import annotations

import numpy as np

from ._util import balanced_labels, check_positive, child_rngs, resolve_loss_steps
from .base import Dataset

RAMP = 10  # fade-in steps: no step edge at the onset, whose broadband click would leak frequency info


def encode_signed(s: np.ndarray) -> np.ndarray:
    """(..., T) signed signal -> (..., T, 2) float32 currents relu(s), relu(-s)."""
    return np.stack([np.maximum(s, 0.0), np.maximum(-s, 0.0)], axis=-1).astype(np.float32)


def _sequences(rng: np.random.Generator, n: int, steps: int, freqs: np.ndarray, noise: float,
               jitter: float) -> tuple[np.ndarray, np.ndarray]:
    y = balanced_labels(rng, n, len(freqs))
    t = np.arange(steps)[None, :]
    onset = rng.integers(0, max(1, steps // 2), size=(n, 1))
    envelope = np.clip((t - onset + 1) / RAMP, 0.0, 1.0)
    f = freqs[y][:, None] * (1.0 + jitter * rng.uniform(-1, 1, size=(n, 1)))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    amplitude = rng.uniform(0.6, 1.4, size=(n, 1))
    s = amplitude * envelope * np.sin(2 * np.pi * f * (t - onset) + phase)
    s = s + noise * rng.standard_normal((n, steps))
    return encode_signed(s), y


def load_resonance(seed: int = 0, *, n_train: int = 2000, n_test: int = 500, steps: int = 150,
                   n_classes: int = 6, noise: float = 0.5, f_min: float = 0.025, f_max: float = 0.16,
                   jitter: float = 0.03, loss_steps: int | str | None = "auto") -> Dataset:
    """Generated frequency-classification task; `loss_steps="auto"`: the default, the last quarter."""
    check_positive("resonance", n_train=n_train, n_test=n_test, steps=steps, n_classes=n_classes,
                   f_min=f_min, f_max=f_max)
    if n_classes > 1 and not f_max > f_min:
        raise ValueError(f"task 'resonance': f_max ({f_max}) must exceed f_min ({f_min})")
    if f_max >= 0.5:
        raise ValueError(f"task 'resonance': f_max must be below 0.5 cycles/step (Nyquist), got {f_max}")
    if noise < 0:
        raise ValueError(f"task 'resonance': noise must be >= 0, got {noise}")
    freqs = np.geomspace(f_min, f_max, n_classes)
    rng_train, rng_test = child_rngs(seed, 2)
    x_train, y_train = _sequences(rng_train, n_train, steps, freqs, noise, jitter)
    x_test, y_test = _sequences(rng_test, n_test, steps, freqs, noise, jitter)
    # Every burst has started by steps//2, so the last quarter always holds the signal.
    loss_steps = resolve_loss_steps("resonance", loss_steps, steps, max(1, steps // 4))
    return Dataset(
        name="resonance", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        n_classes=n_classes, loss_steps=loss_steps, band=(f_min * (1 - jitter), f_max * (1 + jitter)),
        description=(f"sine burst in noise (std {noise}), class = frequency among "
                     f"{', '.join(f'{f:.3g}' for f in freqs)} cycles/step; 2 channels relu(s), relu(-s)"),
    )
