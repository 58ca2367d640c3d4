"""The input's spectrum at the analysis rate (recipe steps 1-3, resampling to 20 kHz), done in the frequency
domain, exact per band.

Transforms whose length follows the input's (awkward lengths such as 222 * q) go through numpy.fft:
scipy.fft keeps plans for its 16 most recent lengths, as large as the transform (several times larger for
lengths with big prime factors), which a long-running job over many files would accumulate. The band
transforms of :mod:`vis.audio.cochleagram` have smooth lengths of at most ENV_BLOCK and use scipy.fft.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import resample_poly

from vis.audio.bands import HOP, SR

# Inputs longer than this (samples) are resampled through sub-sequence DFTs of at most this length;
# 2**22 float64 samples = 32 MiB per block, so a 10-minute 96 kHz file uses ~15 blocks.
INPUT_BLOCK = 2**22
# More sub-sequences than this make the decimated DFT slower than one plain rfft; fall back to it.
MAX_INPUT_SPLIT = 64
# The trimmed 20 kHz length is 222 x q; when q has a prime factor above this, its rfft goes through a
# four-step split (see _rfft_of_hops), up to INPUT_BLOCK samples (larger: memory over speed).
FOUR_STEP_PRIME = 97


def _integer_scale(dtype: np.dtype) -> tuple[float, float]:
    """(offset, scale) mapping integer PCM to [-1, 1) the way soundfile reads it."""
    info = np.iinfo(dtype)
    half = (int(info.max) - int(info.min) + 1) / 2
    return (half if info.min == 0 else 0.0), half


def _mono(x: np.ndarray) -> np.ndarray:
    """float64 mono ``[B, n]`` from ``x [B, n, C]``: channels averaged, integers scaled to [-1, 1)."""
    y = x.mean(axis=2, dtype=np.float64) if x.shape[2] > 1 else x[:, :, 0].astype(np.float64)
    if x.dtype.kind in "iu":
        offset, scale = _integer_scale(x.dtype)
        y = (y - offset) / scale
    return y


def hermitian(half: np.ndarray, m: int, out: np.ndarray) -> np.ndarray:
    """The full length-``m`` DFT ``[B, m]`` of a real sequence, from its ``rfft`` ``half [B, m//2+1]``."""
    out[:, : m // 2 + 1] = half
    out[:, m // 2 + 1 :] = np.conj(half[:, 1 : (m + 1) // 2][:, ::-1])
    return out


def _low_spectrum(x: np.ndarray, n_in: int, n_bins: int) -> np.ndarray:
    """Bins ``0..n_bins-1`` of ``rfft(mono(x[:, :n_in]))``, ``[B, n_bins]`` complex128.

    Long inputs are split into ``d`` interleaved sub-sequences of length ``m = n_in / d``; with
    ``Y_r = fft(x[r::d])``, ``X[k] = sum_r exp(-2 pi i r k / n_in) Y_r[k mod m]`` (exact).
    """
    divisors = [d for d in range(1, MAX_INPUT_SPLIT + 1) if n_in % d == 0 and n_in // d <= INPUT_BLOCK]
    if n_in <= INPUT_BLOCK or not divisors:
        return np.fft.rfft(_mono(x[:, :n_in]), axis=-1)[:, :n_bins]
    d = divisors[0]
    m = n_in // d
    step = np.exp(-2j * np.pi * np.arange(n_bins) / n_in)
    twiddle = np.ones(n_bins, dtype=np.complex128)
    out = np.zeros((x.shape[0], n_bins), dtype=np.complex128)
    full = np.empty((x.shape[0], m), dtype=np.complex128)
    for r in range(d):
        hermitian(np.fft.rfft(_mono(x[:, r:n_in:d]), axis=-1), m, out=full)
        for k0 in range(0, n_bins, m):
            seg = slice(k0, min(n_bins, k0 + m))
            out[:, seg] += twiddle[seg] * full[:, : seg.stop - k0]
        twiddle *= step
    return out


def _largest_prime_factor(n: int) -> int:
    largest, f = 1, 2
    while f * f <= n:
        while n % f == 0:
            largest, n = f, n // f
        f += 1
    return max(largest, n)


def _rfft_of_hops(x: np.ndarray) -> np.ndarray:
    """``rfft(x, axis=-1)`` for ``x [B, n]`` with ``n = HOP * q``, fast even when ``q`` has a large prime.

    numpy's FFT of such lengths (e.g. 222 x 3 x 1051) is slow; the four-step split ``n = q x 222``
    (222 FFTs of length q, a twiddle, q FFTs of length 222) takes a fixed ~35 ms for 35 s of audio.
    """
    batch, n = x.shape
    q = n // HOP
    if _largest_prime_factor(q) <= FOUR_STEP_PRIME or n > INPUT_BLOCK:
        return np.fft.rfft(x, axis=-1)
    sub = np.fft.fft(x.reshape(batch, q, HOP).transpose(0, 2, 1), axis=-1)  # [B, r, k1]: x[r + HOP s] over s
    sub *= np.exp(-2j * np.pi * (np.arange(HOP)[:, None] * np.arange(q)) / n)  # twiddle W_n^(r k1)
    return np.fft.fft(sub, axis=1).reshape(batch, n)[:, : n // 2 + 1]  # [B, k2, k1] -> bin k1 + q k2


def resampled_spectrum(x: np.ndarray, sr: int, n_in: int, n_20k: int, n: int) -> np.ndarray:
    """Steps 1-3, then the spectrum for step 5: ``rfft`` of the clipped, trimmed 20 kHz signal ``[B, n//2+1]``."""
    if sr == SR:
        x20 = _mono(x[:, :n_in])
    else:
        spec = _low_spectrum(x, n_in, n_20k // 2 + 1)
        if n_20k % 2 == 0:  # scipy.signal.resample: the unpaired Nyquist bin counts twice when downsampling
            spec[:, -1] *= 2
        spec *= n_20k / n_in
        x20 = np.fft.irfft(spec, n_20k, axis=-1)
        del spec
    np.clip(x20, -1, 1, out=x20)
    return _rfft_of_hops(x20[:, :n])


def change_rate(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Sound ``x`` [n] at ``sr`` Hz as float32 at ``target`` Hz (polyphase filtering); ``x`` itself when the
    rates are equal."""
    if sr == target:
        return x
    g = math.gcd(int(sr), int(target))
    return resample_poly(x, int(target) // g, int(sr) // g).astype(np.float32)
