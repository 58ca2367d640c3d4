"""Cochleagrams: compressed ERB subband envelopes at ~90 Hz (paper Sec. 4), exact and fast.

The sound features of the paper are the Hilbert envelopes of 42 frequency channels (40 half-cosine
band-pass filters evenly spaced on the ERB scale from 20 Hz to 10 kHz, plus a low-pass and a high-pass),
compressed by ``** 0.3`` and resampled to ~90 Hz: an array ``env [T, 42]``.

The reference recipe (steps 1-7, transcribed directly in :mod:`vis._reference`) does about 170 FFTs of
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

from vis.errors import VisError

SR = 20_000  # analysis rate (Hz): recipe step 2; the top cutoff (10 kHz) is its Nyquist frequency
ENV_RATE = 90  # envelope rate (Hz): 3 rows per frame of 30 fps video (paper Sec. 4)
HOP = SR // ENV_RATE  # 222 samples: recipe step 3 trims the 20 kHz signal to a multiple of this
N_BANDS = 42  # channels: 40 ERB band-pass filters + 1 low-pass + 1 high-pass (paper Sec. 4)
N_BANDPASS = N_BANDS - 2  # 40 band-pass filters
COMPRESSION = 0.3  # envelope exponent c of paper eq. (1)
LOW_HZ = 20.0  # lowest cutoff (Hz), paper Sec. 4
HIGH_HZ = 10_000.0  # highest cutoff (Hz) = Nyquist frequency at SR
TRIM_MULTIPLE = 100  # recipe step 1: the 20 kHz length is trimmed to a multiple of 100 samples (5 ms)

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
# Inputs longer than this (samples) are resampled through sub-sequence DFTs of at most this length;
# 2**22 float64 samples = 32 MiB per block, so a 10-minute 96 kHz file uses ~15 blocks.
INPUT_BLOCK = 2**22
# More sub-sequences than this make the decimated DFT slower than one plain rfft; fall back to it.
MAX_INPUT_SPLIT = 64
# Longest inverse FFT per band (points): wider reduced grids are split into interleaved sub-grids. Small
# enough to stay in cache and to bound scipy.fft's plan cache (16 plans x 4 MiB); large enough that the
# per-sub-grid overhead does not matter.
ENV_BLOCK = 2**18
# The trimmed 20 kHz length is 222 x q; when q has a prime factor above this, its rfft goes through a
# four-step split (see _rfft_of_hops), up to INPUT_BLOCK samples (larger: memory over speed).
FOUR_STEP_PRIME = 97
# Bands of inputs up to this many 20 kHz samples (~105 s) are cached between calls (same length).
CACHE_MAX_SAMPLES = 2**21

# ----------------------------------------------------------------------------------------------------
# ERB scale and filter bank (recipe step 4)


def hz_to_erb(f: np.ndarray | float) -> np.ndarray:
    """ERB-number of frequency ``f`` (Hz): ``9.265 * ln(1 + f / (24.7 * 9.265))``."""
    return 9.265 * np.log(1 + np.asarray(f, dtype=np.float64) / (24.7 * 9.265))


def erb_to_hz(e: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_erb`: ``24.7 * 9.265 * (exp(e / 9.265) - 1)`` Hz."""
    return 24.7 * 9.265 * (np.exp(np.asarray(e, dtype=np.float64) / 9.265) - 1)


def erb_cutoffs(*, n_bands: int = N_BANDPASS, low: float = LOW_HZ, high: float = HIGH_HZ) -> np.ndarray:
    """``n_bands + 2`` frequencies (Hz) evenly spaced in ERB from ``low`` to ``high``.

    Band-pass filter ``k`` (1..n_bands) spans ``cutoffs[k-1]..cutoffs[k+1]`` and peaks at ``cutoffs[k]``.
    """
    if n_bands < 1 or not 0 <= low < high:
        raise VisError(f"filter bank needs n_bands >= 1 and 0 <= low < high, got {n_bands}, {low}, {high}")
    return erb_to_hz(np.linspace(hz_to_erb(low), hz_to_erb(high), n_bands + 2))


def band_centres(*, n_bands: int = N_BANDPASS, low: float = LOW_HZ, high: float = HIGH_HZ) -> np.ndarray:
    """Representative frequency (Hz) of each of the ``n_bands + 2`` channels, for figure axes.

    ``centres [shape=(n_bands + 2,)]``: band-pass ``k`` peaks at ``cutoffs[k]``; the low-pass is given
    ``low`` (20 Hz, where it starts to roll off) and the high-pass ``high`` (10 kHz, where it peaks).
    Together these are exactly :func:`erb_cutoffs`.
    """
    return erb_cutoffs(n_bands=n_bands, low=low, high=high)


def _rfftfreq(index: np.ndarray | int, n: int, sr: int) -> np.ndarray:
    """``np.fft.rfftfreq(n, 1 / sr)[index]``, computed the same way (so bit-identical), without the array."""
    return np.asarray(index) * (1.0 / (n * (1 / sr)))


def _first_bin(f: float, n: int, sr: int, *, strict: bool) -> int:
    """Index of the first rfft bin whose frequency is above ``f`` (``strict``) or at least ``f``."""
    i = max(0, min(n // 2 + 1, int(f * n / sr) - 1))
    while i <= n // 2 and (_rfftfreq(i, n, sr) <= f if strict else _rfftfreq(i, n, sr) < f):
        i += 1
    return i


def _channel_slices(n: int, sr: int, cutoffs: np.ndarray) -> list[tuple[int, int]]:
    """Bin ranges ``[start, stop)`` of ``rfftfreq(n, 1 / sr)`` where each channel's response is nonzero."""
    n_bp = len(cutoffs) - 2
    out = [(0, _first_bin(cutoffs[1], n, sr, strict=False))]  # low-pass: f < cutoffs[1]
    for k in range(1, n_bp + 1):  # band-pass: strictly inside (cutoffs[k-1], cutoffs[k+1])
        lo = _first_bin(cutoffs[k - 1], n, sr, strict=True)
        out.append((lo, max(lo, _first_bin(cutoffs[k + 1], n, sr, strict=False))))
    out.append((_first_bin(cutoffs[n_bp], n, sr, strict=True), n // 2 + 1))  # high-pass: f > cutoffs[-2]
    return out


def _bandpass(f: np.ndarray, k: int, cutoffs: np.ndarray) -> np.ndarray:
    """Half-cosine response of band-pass ``k`` at ``f`` (Hz); zero outside its open support."""
    lo, hi = cutoffs[k - 1], cutoffs[k + 1]
    e_lo, e_hi = hz_to_erb(lo), hz_to_erb(hi)
    h = np.cos((hz_to_erb(f) - (e_lo + e_hi) / 2) / (e_hi - e_lo) * np.pi)
    return np.where((f > lo) & (f < hi), h, 0.0)


def _channel_response(f: np.ndarray, k: int, cutoffs: np.ndarray) -> np.ndarray:
    """Response of channel ``k`` (0 = low-pass, 1..n = band-pass, n+1 = high-pass) at ``f``, on its support."""
    n_bp = len(cutoffs) - 2
    if k == 0:
        return np.sqrt(1 - _bandpass(f, 1, cutoffs) ** 2)
    if k == n_bp + 1:
        return np.sqrt(1 - _bandpass(f, n_bp, cutoffs) ** 2)
    return _bandpass(f, k, cutoffs)


def erb_filterbank(
    n_samples: int, *, sr: int = SR, n_bands: int = N_BANDPASS, low: float = LOW_HZ, high: float = HIGH_HZ
) -> np.ndarray:
    """Frequency responses of the filter bank on ``rfftfreq(n_samples, 1 / sr)``.

    Returns ``filts [shape=(n_samples // 2 + 1, n_bands + 2)]``, real and in [0, 1]: column 0 is the
    low-pass, 1..n_bands the half-cosine band-pass filters, n_bands + 1 the high-pass. Neighbours overlap
    by half and the squared responses sum to one at every frequency up to ``high``, so filtering twice
    and summing the channels gives the signal back. Dense: use it for figures and small ``n_samples``.
    """
    if n_samples < 1:
        raise VisError(f"filter bank needs n_samples >= 1, got {n_samples}")
    freqs = np.fft.rfftfreq(n_samples, 1 / sr)
    cutoffs = erb_cutoffs(n_bands=n_bands, low=low, high=high)
    filts = np.zeros((len(freqs), n_bands + 2))
    for k, (start, stop) in enumerate(_channel_slices(n_samples, sr, cutoffs)):
        filts[start:stop, k] = _channel_response(freqs[start:stop], k, cutoffs)
    return filts


def band_responses(n_samples: int, *, sr: int = SR) -> Iterator[tuple[int, np.ndarray]]:
    """The default 42-channel bank on ``rfftfreq(n_samples, 1 / sr)``, sparse: one channel at a time.

    Yields ``(start, response)`` per channel, ``response [shape=(width,)]`` its nonzero values on bins
    ``start .. start + width - 1`` (the columns of :func:`erb_filterbank` without their zeros).
    """
    cutoffs = erb_cutoffs()
    for k, (start, stop) in enumerate(_channel_slices(n_samples, sr, cutoffs)):
        yield start, _channel_response(_rfftfreq(np.arange(start, stop), n_samples, sr), k, cutoffs)


def hilbert_weights(start: int, width: int, n: int) -> np.ndarray:
    """Weights turning rfft bins ``start .. start + width - 1`` of a length-``n`` signal into the spectrum
    of its analytic signal (as ``scipy.signal.hilbert``): 2, except 1 at DC and at the Nyquist bin."""
    w = np.full(width, 2.0)
    if start == 0 and width:
        w[0] = 1.0
    if n % 2 == 0 and start + width == n // 2 + 1 and width:
        w[-1] = 1.0
    return w


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


def _integer_scale(dtype: np.dtype) -> tuple[float, float]:
    """(offset, scale) mapping integer PCM to [-1, 1) the way soundfile reads it."""
    info = np.iinfo(dtype)
    half = (int(info.max) - int(info.min) + 1) / 2
    return (half if info.min == 0 else 0.0), half


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


def _mono(x: np.ndarray) -> np.ndarray:
    """float64 mono ``[B, n]`` from ``x [B, n, C]``: channels averaged, integers scaled to [-1, 1)."""
    y = x.mean(axis=2, dtype=np.float64) if x.shape[2] > 1 else x[:, :, 0].astype(np.float64)
    if x.dtype.kind in "iu":
        offset, scale = _integer_scale(x.dtype)
        y = (y - offset) / scale
    return y


# ----------------------------------------------------------------------------------------------------
# Steps 1-3: resample to 20 kHz
#
# Transforms whose length follows the input's (awkward lengths such as 222 * q) go through numpy.fft:
# scipy.fft keeps plans for its 16 most recent lengths, as large as the transform (several times larger
# for lengths with big prime factors), which a long-running job over many files would accumulate. The
# band transforms below have smooth lengths of at most ENV_BLOCK and use the faster scipy.fft.


def _hermitian(half: np.ndarray, m: int, out: np.ndarray) -> np.ndarray:
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
        _hermitian(np.fft.rfft(_mono(x[:, r:n_in:d]), axis=-1), m, out=full)
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


def _resampled_spectrum(x: np.ndarray, sr: int, n_in: int, n_20k: int, n: int) -> np.ndarray:
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
            sub = np.tile(_hermitian(half, m_sub, out=full), (1, -(-n_bins // m_sub)))[:, :n_bins]
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
    spectrum = _resampled_spectrum(x, sr, n_in, n_20k, n)
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
