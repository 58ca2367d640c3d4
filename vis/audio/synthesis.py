"""From sound features back to a waveform (paper Sec. 5.2).

Parametric synthesis imposes the subband envelopes on noise (the method of the paper's refs. [32, 42]):
start from Gaussian noise at 20 kHz; per iteration take its analytic subbands, keep their phase, replace
their magnitude by the target envelopes (upsampled to 20 kHz, clipped at 0, decompressed with
``** (1 / 0.3)``), take the real part, filter again with the same bank and sum the bands. The paper uses
one iteration; more get closer to the target. The result is resampled to the output rate.
"""

from __future__ import annotations

import numpy as np
import scipy.fft  # next_fast_len only; transforms use numpy.fft (no plan cache, see vis.audio.cochleagram)

from vis.audio.bands import COMPRESSION, ENV_RATE, N_BANDS, SR, band_responses, hilbert_weights
from vis.errors import VisError

# Output sound rate (Hz) of parametric synthesis and of `vis predict`: the audible band (to 24 kHz) at half the
# size of the Greatest Hits recordings' 96 kHz.
OUT_SR = 48_000
N_ITER = 1  # imposition iterations: the paper uses one (Sec. 5.2)
SEED = 0  # seed of the starting noise


def _fourier_resample(x: np.ndarray, num: int) -> np.ndarray:
    """``scipy.signal.resample(x, num, axis=-1)`` for real ``x`` (the cochleagram's resampling)."""
    m = x.shape[-1]
    if num == m:
        return x.astype(np.float64, copy=True)
    keep = min(m, num)
    spec = np.fft.rfft(x, axis=-1)[..., : keep // 2 + 1]
    if keep % 2 == 0:  # the unpaired bin at keep / 2: doubled when downsampling, halved when upsampling
        spec[..., -1] *= 2 if num < m else 0.5
    out = np.zeros(spec.shape[:-1] + (num // 2 + 1,), dtype=np.complex128)
    out[..., : spec.shape[-1]] = spec
    return np.fft.irfft(out * (num / m), num, axis=-1)


def _check_env(env: np.ndarray) -> np.ndarray:
    env = np.asarray(env)
    if env.ndim != 2 or env.shape[1] != N_BANDS or env.shape[0] < 1:
        raise VisError(f"envelopes must have shape [T, {N_BANDS}] with T >= 1, got {env.shape}")
    if env.dtype.kind not in "iuf":
        raise VisError(f"envelopes must be real numbers, got dtype {env.dtype}")
    if not np.isfinite(env).all():
        raise VisError("envelopes contain NaN or infinite values")
    return env.astype(np.float64)


def parametric(
    env: np.ndarray,
    *,
    env_rate: float = ENV_RATE,
    times: np.ndarray | None = None,
    sr_out: int = OUT_SR,
    n_iter: int = N_ITER,
    seed: int = SEED,
) -> np.ndarray:
    """Impose compressed subband envelopes on noise: a waveform whose cochleagram approximates ``env``.

    Parameters
    ----------
    env : np.ndarray [shape=(T, 42)], ~90 Hz
        Compressed envelopes as :func:`vis.audio.cochleagram.cochleagram` returns them (a network that predicts
        their square root should square its output first). Negative values count as 0.
    env_rate : float
        Rows per second; ignored when ``times`` is given.
    times : np.ndarray [shape=(T,)], optional
        Row times (s) from :func:`~vis.audio.cochleagram.cochleagram`; gives the exact row spacing, so that the
        result lasts exactly as long as the analysed audio.
    sr_out : int
        Output sample rate (Hz).
    n_iter : int
        Iterations of imposing the envelopes (>= 1).
    seed : int
        Seed of the starting Gaussian noise (same seed, same waveform).

    Returns
    -------
    audio : np.ndarray [shape=(round(T / env_rate * sr_out),)], float32, in [-1, 1]
        Mono waveform at ``sr_out``, at the level the envelopes imply (clipped, not normalised).
    """
    target = _check_env(env)
    n_rows = len(target)
    if times is not None:
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (n_rows,) or (n_rows > 1 and not np.all(np.diff(times) > 0)):
            raise VisError(f"times must be increasing with shape ({n_rows},), got shape {times.shape}")
        env_rate = 1 / (times[1] - times[0]) if n_rows > 1 else env_rate
    if not (np.isfinite(env_rate) and env_rate > 0):
        raise VisError(f"env_rate must be a positive number of rows per second, got {env_rate}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise VisError(f"n_iter must be a whole number >= 1, got {n_iter!r}")
    if isinstance(sr_out, bool) or not isinstance(sr_out, (int, np.integer)) or sr_out < 1:
        raise VisError(f"sr_out must be a positive whole number of Hz, got {sr_out!r}")

    n = max(1, round(n_rows / env_rate * SR))  # samples at 20 kHz
    size = scipy.fft.next_fast_len(n, real=True)  # work length: zero envelopes past n, trimmed at the end
    bands = list(band_responses(size))
    signal = np.random.default_rng(seed).standard_normal(size)
    for _ in range(n_iter):
        spectrum = np.fft.rfft(signal)
        total = np.zeros_like(spectrum)
        for k, (start, response) in enumerate(bands):
            stop = start + len(response)
            if stop == start:
                continue
            analytic = np.zeros(size, dtype=np.complex128)
            analytic[start:stop] = spectrum[start:stop] * response * hilbert_weights(start, stop - start, size)
            analytic = np.fft.ifft(analytic, out=analytic)
            modulus = np.abs(analytic)
            phase = np.divide(analytic.real, modulus, out=np.zeros(size), where=modulus > 0)
            del analytic, modulus
            phase[:n] *= _magnitude(target[:, k], n)  # real part of |target| * phase
            phase[n:] = 0
            total[start:stop] += np.fft.rfft(phase)[start:stop] * response  # filter again, sum the bands
        signal = np.fft.irfft(total, size)

    out = _fourier_resample(signal[:n], max(1, round(n_rows / env_rate * sr_out)))
    return np.clip(out, -1, 1).astype(np.float32)


def _magnitude(env: np.ndarray, n: int) -> np.ndarray:
    """Target magnitude at 20 kHz ``[n]`` from one band's compressed envelope ``[T]``, clipped at 0 and
    decompressed.

    Upsampling is Fourier interpolation (the inverse of the cochleagram's last step) onto a fast FFT
    length over the same span, then linear interpolation onto the 20 kHz grid: ``n`` itself is often an
    awkward FFT length (222 x a large prime), and at ~200 points per envelope row the linear step errs
    by ~1e-5 of the envelope.
    """
    fast = scipy.fft.next_fast_len(n, real=True)
    up = _fourier_resample(env, fast)
    if fast != n:
        up = np.interp(np.arange(n) * (fast / n), np.arange(fast), up)
    np.maximum(up, 0, out=up)
    return np.power(up, 1 / COMPRESSION, out=up)
