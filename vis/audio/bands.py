"""The cochleagram's numbers (paper Sec. 4 and the notes' recipe) and its ERB filter bank."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

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
