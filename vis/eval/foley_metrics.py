"""The onset metrics of later video-to-sound work on Greatest Hits, so that figures can stand beside theirs.

CondFoleyGen (Du et al., CVPR 2023; its ``predict_onset.py``), copied by SyncFusion and others, scores a
generated 2 s clip against the real one by their *audio* onsets:

- onsets: librosa's ``onset.onset_detect(wav, sr=22050, delta=0.3)`` (a mel spectral-flux envelope, peak
  picking), re-implemented here in numpy (:func:`librosa_onsets`; librosa is not a dependency);
- the generated clip's onsets go through non-maximum suppression within 0.05 s, each scored by the largest
  normalised ``|wav|`` within 0.05 s of it;
- ``count_acc``: the share of clips whose generated sound has as many onsets as the real one (before that
  suppression; their "# onset acc", SyncFusion's count match);
- ``onset_acc``: the share of the real onsets matched by a generated one within 0.1 s (their "onset acc");
- ``onset_ap``: the average precision of the generated onsets, ranked by score, against the real ones.
  The original stops counting real onsets once the generated ones run out, so a clip that misses some
  scores a higher AP than it should; here every missed real onset counts (precision 0 at its recall).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import get_window

from vis.audio.resample import change_rate
from vis.eval.metrics import average_precision, match

PROTOCOL_SR = 22_050
N_FFT, HOP, N_MELS = 2048, 512, 128  # librosa's defaults for onset_strength
DELTA = 0.3  # CondFoleyGen's onset_detect threshold above the local mean
NMS_S = 0.05
CONF_S = 0.05
TOL_S = 0.1
CLIP_S = 2.0


def _mel_filters(sr: int) -> np.ndarray:
    """Slaney-style mel filter bank [N_MELS, N_FFT // 2 + 1], area-normalised (librosa.filters.mel's default)."""
    def hz_to_mel(f):
        f = np.asarray(f, float)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)

    def mel_to_hz(m):
        m = np.asarray(m, float)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))

    fft_f = np.linspace(0, sr / 2, N_FFT // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]


def onset_strength(wav: np.ndarray, sr: int = PROTOCOL_SR) -> np.ndarray:
    """librosa's ``onset.onset_strength``: mean over mel bands of the rise of the dB mel spectrogram from one
    frame to the next (half-wave rectified), one value per hop of 512 samples, centred frames."""
    x = np.pad(np.asarray(wav, np.float64), N_FFT // 2, mode="constant")
    n = 1 + (len(x) - N_FFT) // HOP if len(x) >= N_FFT else 0
    if n <= 0:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n]
    spec = np.abs(np.fft.rfft(frames * get_window("hann", N_FFT, fftbins=True), axis=1)) ** 2
    mel = _mel_filters(sr) @ spec.T  # [N_MELS, n]
    db = 10.0 * np.log10(np.maximum(1e-10, mel))
    db = np.maximum(db, db.max() - 80.0)
    flux = np.maximum(0.0, db[:, 1:] - db[:, :-1]).mean(axis=0)
    pad = 1 + N_FFT // (2 * HOP)  # lag + the centring offset, as librosa pads
    return np.pad(flux, (pad, 0))[:n]


def librosa_onsets(wav: np.ndarray, sr: int = PROTOCOL_SR, *, delta: float = DELTA) -> np.ndarray:
    """librosa's ``onset.onset_detect(wav, sr=sr, delta=delta, units="samples")``: sample indices [P]."""
    env = onset_strength(wav, sr)
    if len(env) == 0 or not np.any(env):
        return np.zeros(0, np.int64)
    env = env - env.min()
    env = env / env.max()
    pre_max, post_max = int(0.03 * sr // HOP), int(0.0 * sr // HOP + 1)
    pre_avg, post_avg = int(0.10 * sr // HOP), int(0.10 * sr // HOP + 1)
    wait = int(0.03 * sr // HOP)
    peaks, last = [], -np.inf
    for i in range(len(env)):
        lo_m, hi_m = max(0, i - pre_max), min(len(env), i + post_max)
        lo_a, hi_a = max(0, i - pre_avg), min(len(env), i + post_avg)
        if env[i] == env[lo_m:hi_m].max() and env[i] >= env[lo_a:hi_a].mean() + delta and i > last + wait:
            peaks.append(i)
            last = i
    return np.asarray(peaks, np.int64) * HOP


def _confidence(wav: np.ndarray, onsets: np.ndarray, sr: int) -> np.ndarray:
    a = np.abs(wav)
    a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
    w = int(CONF_S * sr)
    return np.array([a[max(0, o - w) : o + w].max() if len(a[max(0, o - w) : o + w]) else 0.0 for o in onsets])


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def clip_scores(real: np.ndarray, generated: np.ndarray, sr: int) -> dict:
    """CondFoleyGen's scores of one generated clip against the real one (both mono, any rate ``sr``):
    ``count_match`` (bool), ``onset_acc``, ``onset_ap`` (NaN without real onsets), and the onset counts."""
    real = change_rate(_mono(real), sr, PROTOCOL_SR)
    gen = change_rate(_mono(generated), sr, PROTOCOL_SR)
    truth, found = librosa_onsets(real), librosa_onsets(gen)
    conf = _confidence(gen, found, PROTOCOL_SR)
    kept: list = []
    kept_conf: list = []
    for i in np.argsort(-conf, kind="stable"):  # non-maximum suppression within NMS_S
        if all(abs(found[i] - k) >= NMS_S * PROTOCOL_SR for k in kept):
            kept.append(found[i])
            kept_conf.append(conf[i])
    t_true, t_gen = truth / PROTOCOL_SR, np.asarray(kept, float) / PROTOCOL_SR
    hit = match(t_gen, np.asarray(kept_conf), t_true, tol=TOL_S)
    return {"count_match": len(truth) == len(found), "onset_acc": hit.sum() / len(truth) if len(truth) else np.nan,
            "onset_ap": average_precision(t_gen, np.asarray(kept_conf), t_true, tol=TOL_S),
            "real_onsets": len(truth), "generated_onsets": len(found)}


def protocol_scores(real: np.ndarray, generated: np.ndarray, sr: int, *, clip_s: float = CLIP_S) -> dict:
    """:func:`clip_scores` over consecutive ``clip_s`` clips of a whole video's real and generated sound,
    averaged (clips without a real onset count for ``count_acc`` only, as in the original)."""
    real, generated = _mono(real), _mono(generated)
    n = int(clip_s * sr)
    rows = [clip_scores(real[a : a + n], generated[a : a + n], sr) for a in range(0, min(len(real), len(generated))
                                                                                   - n + 1, n)]
    if not rows:
        return {"clips": 0, "count_acc": np.nan, "onset_acc": np.nan, "onset_ap": np.nan}
    with_truth = [r for r in rows if r["real_onsets"]]
    return {"clips": len(rows), "count_acc": float(np.mean([r["count_match"] for r in rows])),
            "onset_acc": float(np.mean([r["onset_acc"] for r in with_truth])) if with_truth else np.nan,
            "onset_ap": float(np.mean([r["onset_ap"] for r in with_truth])) if with_truth else np.nan}
