"""Cochleagrams: compressed ERB subband envelopes at ~90 Hz (paper Sec. 4), exact and fast.

The sound features of the paper are the Hilbert envelopes of 42 frequency channels (40 half-cosine
band-pass filters evenly spaced on the ERB scale from 20 Hz to 10 kHz, plus a low-pass and a high-pass),
compressed by ``** 0.3`` and resampled to ~90 Hz: an array ``env [T, 42]``.

The reference recipe (steps 1-7, transcribed directly in :mod:`vis.audio.reference`) does about 170 FFTs of
the full 20 kHz signal. This module computes the same numbers with far less work:

* Input resampling (steps 1-2) is Fourier resampling, so only the lowest ``n_20k / 2 + 1`` bins of the
  input's DFT are needed. Short inputs take one ``rfft``; long ones (over :data:`INPUT_BLOCK` samples)
  assemble those bins from the DFTs of ``d`` interleaved sub-sequences (``x[r::d]``, a decimation in
  time), which is exact and keeps memory to a few blocks whatever the file length.
* A band's analytic signal has nonzero spectrum only on the band's bins ``[a, b]``. Shifted down by
  ``a`` bins, it is a trigonometric polynomial, so inverse FFTs of the band's bins alone give its exact
  values (up to the shift, whose phase ``|.|`` removes) on any grid of ``M`` evenly spaced instants:
  each band's envelope is computed at its own reduced rate (as interleaved sub-grids of at most
  :data:`ENV_BLOCK` points).
* Compression is applied at that reduced rate, and step 7 is a Fourier resampling from ``M`` instead of
  ``n`` samples. This is the one approximation: ``env ** 0.3`` is not band-limited, and what lies
  above ``M / 2`` folds back. With ``M`` = :data:`OVERSAMPLE` x the band's width (and at least
  :data:`MIN_RATE_FACTOR` x the output length), the difference from the oracle stays within 1.5e-3 max
  abs and 2e-5 mean abs on impacts, scratches, white noise, tones, silence, DC and clipped audio (see
  ``tests/test_cochleagram.py`` and ``benchmarks/bench_cochleagram.py``).

The signal's FFTs run in float64: the ``** 0.3`` compression would turn float32 round-off of 1e-7 into
errors of 1e-2 in quiet channels. Results are float32.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from functools import lru_cache
from math import ceil, gcd

import numpy as np
import scipy.fft

from vis.audio.bands import COMPRESSION, ENV_RATE, HOP, N_BANDS, SR, TRIM_MULTIPLE, band_responses, hilbert_weights
from vis.audio.resample import INPUT_BLOCK, hermitian, resampled_spectrum
from vis.errors import VisError

# Envelope rate per band, as a multiple of the band's width: the compressed envelope's spectrum reaches
# beyond the band's width (|.| and ** 0.3 are not band-limited), and what lies above half the reduced
# rate aliases into the output. Max / mean abs difference from the oracle on 35 s of white noise at
# 96 kHz (the worst case measured): 8x -> 1.8e-3 / 3.8e-5, 12x -> 1.5e-3 / 2.1e-5, 16x -> 1.1e-3 / 1.4e-5;
# impacts: 8x -> 2.5e-3, 12x -> 6e-4. Relative run time: 8x -> 0.88, 12x -> 1, 16x -> 1.2.
OVERSAMPLE = 12.0
# Lowest per-band rate, as a multiple of the output rate (32 x 90 Hz = 2880 Hz): the 16 narrow low bands
# (20 Hz to ~600 Hz) need a guard above the 45 Hz output band. Max abs difference in those bands on
# white noise: 8x -> 2.0e-3, 16x -> 1.8e-3, 32x -> 8e-4, 64x -> 4e-4; it adds ~10 % to the work.
MIN_RATE_FACTOR = 32.0
# Longest inverse FFT per band (points): wider reduced grids are split into interleaved sub-grids. Small
# enough to stay in cache and to bound scipy.fft's plan cache (16 plans x 4 MiB); large enough that the
# per-sub-grid overhead does not matter.
ENV_BLOCK = 2**18
# Bands of inputs up to this many 20 kHz samples (~105 s) are cached between calls (same length).
CACHE_MAX_SAMPLES = 2**21

# ----------------------------------------------------------------------------------------------------
# The filter bank's analytic weights (recipe steps 4-5; the bank itself is in vis.audio.bands)


def _analytic_bands(n: int) -> Iterator[tuple[int, np.ndarray]]:
    """Per channel: its first bin and ``weights`` = response x Hilbert weights (1 at DC/Nyquist, else 2)."""
    for start, response in band_responses(n):
        yield start, response * hilbert_weights(start, len(response), n)


@lru_cache(maxsize=4)
def _cached_bands(n: int) -> tuple[tuple[int, np.ndarray], ...]:
    return tuple(_analytic_bands(n))


def _bands(n: int) -> Iterable[tuple[int, np.ndarray]]:
    """Channel weights for length ``n``: cached for short inputs, made one at a time for long ones."""
    return _cached_bands(n) if n <= CACHE_MAX_SAMPLES else _analytic_bands(n)


# ----------------------------------------------------------------------------------------------------
# Lengths and times (recipe steps 1, 3, 7)


def _input_step(sr: int) -> int:
    """Input lengths that resample to a whole multiple of 100 samples at 20 kHz are multiples of this."""
    p, q = sr // gcd(sr, SR), SR // gcd(sr, SR)  # n_in * SR / sr is whole iff p divides n_in
    return p * (TRIM_MULTIPLE // gcd(TRIM_MULTIPLE, q))


def analysis_lengths(n_samples: int, sr: int) -> tuple[int, int, int, int]:
    """Lengths the recipe keeps, for ``n_samples`` input samples at ``sr`` Hz.

    Returns ``(n_in, n_20k, n, n_rows)``: input samples used (step 1), their length at 20 kHz, the
    length after trimming to a multiple of :data:`HOP` (step 3), and the number of envelope rows
    ``round(n * 90 / 20000)`` (step 7, ties to even). Samples beyond ``n_in`` are ignored.
    """
    step = _input_step(_check_rate(sr))
    n_in = n_samples // step * step
    n_20k = n_in * SR // sr
    n = n_20k // HOP * HOP
    return n_in, n_20k, n, round(Fraction(n * ENV_RATE, SR))


def min_samples(sr: int) -> int:
    """Fewest input samples at ``sr`` Hz that give one envelope row (15 ms at 96 kHz)."""
    sr = _check_rate(sr)
    step_20k = _input_step(sr) * SR // sr
    return ceil(HOP / step_20k) * step_20k * sr // SR


def _row_times(n: int, n_rows: int) -> np.ndarray:
    """Time (s) of each envelope row from the first audio sample: row ``i`` is at ``i * n / n_rows / SR``."""
    return np.arange(n_rows) * (n / n_rows) / SR


# ----------------------------------------------------------------------------------------------------
# Input checks


def _check_rate(sr: int | float) -> int:
    real = isinstance(sr, (int, float, np.integer, np.floating)) and not isinstance(sr, (bool, np.bool_))
    if not (real and float(sr).is_integer()):
        raise VisError(f"sample rate must be a whole number of Hz, got {sr!r}")
    if sr < SR:
        raise VisError(f"sample rate {int(sr)} Hz is below the {SR} Hz the cochleagram needs")
    return int(sr)


def _check_samples(x: np.ndarray, what: str) -> None:
    """Raise VisError naming the first NaN or infinite sample of ``x [B, n, C]``."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    block = max(1, INPUT_BLOCK // max(1, x.shape[0] * x.shape[2]))
    for start in range(0, x.shape[1], block):
        chunk = x[:, start : start + block]
        bad = ~np.isfinite(chunk)
        if bad.any():
            b, i, _ = np.argwhere(bad)[0]
            kind = "NaN" if np.isnan(chunk[b, i]).any() else "infinite"
            row = f"row {b}, " if x.shape[0] > 1 else ""
            raise VisError(f"{what} has a {kind} sample ({row}sample {start + i})")


def _as_signals(audio: np.ndarray, batch: bool) -> np.ndarray:
    """A view ``[B, n, C]`` of the input (no copy), after checking its shape and dtype."""
    x = np.asarray(audio)
    if x.dtype.kind not in "iuf":
        raise VisError(f"audio must hold integer or float samples, got dtype {x.dtype}")
    if batch:
        if x.ndim != 2:
            raise VisError(f"batched audio must have shape [batch, samples], got shape {x.shape}")
        return x[:, :, None]
    if x.ndim == 1:
        return x[None, :, None]
    if x.ndim == 2:
        if x.shape[1] > x.shape[0]:
            raise VisError(f"audio must have shape [samples] or [samples, channels], got {x.shape}")
        return x[None]
    raise VisError(f"audio must have shape [samples] or [samples, channels], got shape {x.shape}")


# ----------------------------------------------------------------------------------------------------
# Steps 5-7: envelopes at a reduced rate per band


def envelope_grid(width: int, n_rows: int) -> tuple[int, int]:
    """Reduced grid for a band of ``width`` bins: ``(d, m_sub)``, ``d`` interleaved grids of ``m_sub`` points.

    The band's envelope is evaluated at ``M = d * m_sub`` evenly spaced instants, ``M`` at least
    ``OVERSAMPLE * width`` and ``MIN_RATE_FACTOR * n_rows``; each sub-grid is one inverse FFT of
    ``m_sub <= ENV_BLOCK`` points.
    """
    target = max(width + 1, ceil(OVERSAMPLE * width), ceil(MIN_RATE_FACTOR * n_rows))
    d = ceil(target / ENV_BLOCK)
    return d, scipy.fft.next_fast_len(ceil(target / d), real=True)


def _band_envelope(band: np.ndarray, n: int, n_rows: int) -> np.ndarray:
    """Steps 5-7 for one channel: ``band [B, width]`` = its analytic spectrum from its first bin.

    Returns the compressed envelope resampled to ``n_rows`` ``[B, n_rows]``. With ``M = d * m_sub``
    instants ``t_j = j n / M``, sub-grid ``s`` holds ``t_{q d + s}``, and
    ``a(t_{q d + s}) = (1/n) sum_k band[k] e^{2 pi i k s / M} e^{2 pi i k q / m_sub}`` (exact, up to the
    phase of the shift by the first bin); the low DFT bins of ``|a| ** 0.3`` on the ``M``-grid are
    ``sum_s e^{-2 pi i k s / M} E_s[k mod m_sub]`` with ``E_s`` the DFT of sub-grid ``s``.
    """
    batch, width = band.shape
    d, m_sub = envelope_grid(width, n_rows)
    m = d * m_sub
    n_bins = n_rows // 2 + 1
    low = np.zeros((batch, n_bins), dtype=np.complex128)
    grid = np.empty((batch, m_sub), dtype=np.complex128)
    full = np.empty((batch, m_sub), dtype=np.complex128) if n_bins > m_sub // 2 + 1 else None
    shifted = band * (m_sub / n)  # ifft divides by m_sub where the analytic signal needs 1 / n
    shift_in = np.exp(2j * np.pi * np.arange(width) / m)  # sub-grid s: times e^{2 pi i k s / M}
    shift_out = np.exp(-2j * np.pi * np.arange(n_bins) / m)  # and its DFT: times e^{-2 pi i k s / M}
    phase_out = np.ones(n_bins, dtype=np.complex128)
    for s in range(d):
        if s:
            shifted *= shift_in
            phase_out *= shift_out
        grid[:, : min(width, m_sub)] = shifted[:, :m_sub]
        grid[:, width:] = 0
        for j in range(m_sub, width, m_sub):  # fold bins k > m_sub onto k mod m_sub: same samples
            grid[:, : min(m_sub, width - j)] += shifted[:, j : j + m_sub]
        analytic = scipy.fft.ifft(grid, axis=-1, overwrite_x=True)
        # Past the FFT, float32 is enough: its relative error is 1e-7 of each sample's own value, 3e-8
        # after ** 0.3 (before the FFT it would not be: see the module docstring).
        compressed = np.abs(analytic).astype(np.float32)
        del analytic
        np.power(compressed, np.float32(COMPRESSION), out=compressed)
        half = scipy.fft.rfft(compressed, axis=-1)
        if full is None:
            sub = half[:, :n_bins]
        else:  # very long inputs: more output bins than the sub-grid has, wrap around
            sub = np.tile(hermitian(half, m_sub, out=full), (1, -(-n_bins // m_sub)))[:, :n_bins]
        low += sub * phase_out
    # Step 7, as scipy.signal.resample(compressed, n_rows) on the M-grid.
    if n_rows % 2 == 0 and n_rows != m:
        low[:, -1] *= 2
    low *= n_rows / m
    return np.fft.irfft(low, n_rows, axis=-1)


def _envelopes(spectrum: np.ndarray, n: int, n_rows: int) -> np.ndarray:
    """Steps 5-7 from ``spectrum [B, n//2+1]``: compressed envelopes ``[B, n_rows, 42]`` float64."""
    env = np.zeros((spectrum.shape[0], n_rows, N_BANDS))
    for k, (start, weights) in enumerate(_bands(n)):
        if len(weights):
            env[:, :, k] = _band_envelope(spectrum[:, start : start + len(weights)] * weights, n, n_rows)
    return np.clip(env, -1, 1, out=env)


# ----------------------------------------------------------------------------------------------------
# Public entry points


def _run(x: np.ndarray, sr: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    sr = _check_rate(sr)
    n_in, n_20k, n, n_rows = analysis_lengths(x.shape[1], sr)
    if n < HOP:
        raise VisError(
            f"{what} is too short: {x.shape[1]} samples at {sr} Hz, one envelope frame needs "
            f"{min_samples(sr)} ({HOP} samples at {SR} Hz after trimming)"
        )
    _check_samples(x, what)
    spectrum = resampled_spectrum(x, sr, n_in, n_20k, n)
    env = _envelopes(spectrum, n, n_rows)
    return env.astype(np.float32), _row_times(n, n_rows)


def cochleagram(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Compressed subband envelopes of a waveform (paper Sec. 4, eq. 1).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,) or (n, channels)]
        Waveform; channels are averaged. Float samples are taken as they are (nominally in [-1, 1]; the
        20 kHz signal is clipped to [-1, 1]); integer PCM is scaled to [-1, 1) like soundfile does.
    sr : int
        Sample rate (Hz), at least 20000.

    Returns
    -------
    env : np.ndarray [shape=(T, 42)], float32, ~90 Hz
        Envelopes ``** 0.3`` in [0, 1] (tiny negative ripples of the final resampling are kept); column 0
        is the low-pass, 1..40 the ERB band-pass filters from low to high, 41 the high-pass.
    times : np.ndarray [shape=(T,)], float64
        Time (s) of each row relative to the first audio sample (spacing ``n / T / 20000`` ~ 1/90 s).

    Raises :class:`vis.errors.VisError` for rates below 20 kHz, NaN or infinite samples, and audio too
    short for one envelope row (:func:`min_samples`: 15 ms at 96 kHz).
    """
    env, times = _run(_as_signals(audio, batch=False), sr, "audio")
    return env[0], times


def cochleagram_batch(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cochleagram` of each row of ``audio [B, n]``: ``env [B, T, 42]`` float32 and ``times [T]``."""
    return _run(_as_signals(audio, batch=True), sr, "audio batch")
