"""The slow, direct cochleagram: the correctness oracle for :mod:`vis.audio.cochleagram`.

This is a line-by-line transcription of the reference recipe (paper Sec. 4, project notes steps 1-7):
full-length FFTs, ``scipy.signal.resample`` and ``scipy.signal.hilbert``, a dense 42-channel filter bank.
It is deliberately independent of :mod:`vis.audio.cochleagram` (it builds its own filter bank with a plain
loop), so that the fast implementation can be tested against it. Use it in tests and benchmarks only:
it needs about 40 full-length FFTs and a dense ``[n/2+1, 42]`` matrix (memory grows with the input).
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import numpy as np
import scipy.signal

SR = 20_000  # analysis rate (Hz), recipe step 2
ENV_RATE = 90  # envelope rate (Hz), recipe step 7
N_BANDS = 40  # band-pass filters; plus a low-pass and a high-pass = 42 channels
LOW_HZ, HIGH_HZ = 20.0, 10_000.0  # range spanned by the cutoffs
COMPRESSION = 0.3  # envelope exponent, recipe step 6


def _erb(f):
    return 9.265 * np.log(1 + np.asarray(f, dtype=np.float64) / (24.7 * 9.265))


def _erb_inv(e):
    return 24.7 * 9.265 * (np.exp(np.asarray(e, dtype=np.float64) / 9.265) - 1)


def reference_filterbank(n: int) -> np.ndarray:
    """Recipe step 4: dense responses ``[n//2+1, 42]`` on ``rfftfreq(n, 1/20000)``."""
    freqs = np.fft.rfftfreq(n, 1 / SR)
    cutoffs = _erb_inv(np.linspace(_erb(LOW_HZ), _erb(HIGH_HZ), N_BANDS + 2))
    filts = np.zeros((len(freqs), N_BANDS + 2))
    for k in range(1, N_BANDS + 1):
        lo, hi = cutoffs[k - 1], cutoffs[k + 1]
        inside = (freqs > lo) & (freqs < hi)
        mid = (_erb(lo) + _erb(hi)) / 2
        filts[inside, k] = np.cos((_erb(freqs[inside]) - mid) / (_erb(hi) - _erb(lo)) * np.pi)
    low = freqs < cutoffs[1]
    filts[low, 0] = np.sqrt(1 - filts[low, 1] ** 2)
    high = freqs > cutoffs[N_BANDS]
    filts[high, N_BANDS + 1] = np.sqrt(1 - filts[high, N_BANDS] ** 2)
    return filts


def reference_prepare(audio: np.ndarray, sr: int) -> np.ndarray:
    """Recipe steps 1-3: mono float64 at 20 kHz, clipped, trimmed to a multiple of 222 samples."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    # Step 1: the input length must give a whole number of 20 kHz samples, and that number must be a
    # multiple of 100 (input multiple of `step`).
    p, q = sr // gcd(sr, SR), SR // gcd(sr, SR)
    step = p * (100 // gcd(100, q))
    x = x[: len(x) // step * step]
    # Step 2: Fourier resampling to 20 kHz, clip.
    x = np.clip(scipy.signal.resample(x, len(x) * SR // sr), -1, 1)
    # Step 3: trim to a multiple of floor(20000 / 90) = 222 samples.
    hop = SR // ENV_RATE
    return x[: len(x) // hop * hop]


def cochleagram_reference(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """The recipe, directly. Returns ``env`` float32 ``[T, 42]`` and ``times`` float64 ``[T]`` (s)."""
    x = reference_prepare(audio, sr)
    n = len(x)
    n_out = round(Fraction(n * ENV_RATE, SR))  # step 7 length (exact, ties to even like round())
    filts = reference_filterbank(n)
    spectrum = np.fft.rfft(x)
    env = np.zeros((n_out, N_BANDS + 2))
    for k in range(N_BANDS + 2):
        subband = np.fft.irfft(filts[:, k] * spectrum, n)  # step 5: filter
        envelope = np.abs(scipy.signal.hilbert(subband))  # step 5: Hilbert envelope
        compressed = envelope**COMPRESSION  # step 6
        env[:, k] = scipy.signal.resample(compressed, n_out)  # step 7
    env = np.clip(env, -1, 1).astype(np.float32)
    times = np.arange(n_out) * (n / n_out) / SR
    return env, times
