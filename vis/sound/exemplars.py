"""Example-based synthesis (paper Sec. 5.2, A1.1): snap predicted sound features to real impacts.

The exemplar bank holds the centred training impacts: their sound features (the 45-row, 42-band
envelope window around each onset) and their waveforms. A query is a window of predicted features; its
L1-nearest exemplar's waveform is pasted at the query's time, overlap-adding where impacts overlap.

- Centred task: the query is the whole 15-frame (45-row) window.
- Long videos: the query is the 8 frames starting one frame before each detected peak (paper Sec. 6.1).

Search: brute-force L1 over 50,000 windows of 1,890 numbers takes ~100 ms here, so the default search finds the
256 nearest candidates in a 48-dimensional PCA projection of the bank, re-ranked by exact L1 distance
(``exact=True``: every exemplar; their agreement: the tests, ``benchmarks/bench_exemplars.py``).

Visual memory: a bank built by ``vis train`` also holds what each impact looked like (the ImageNet features
of its centre frame, :func:`vis.model.backbones.colour_features`). The network's regressed sound hedges between the
materials a frame could show; the training impacts that look most alike do not. So a new impact's sound
takes its loudness over time from the network and its spectrum partly from the network (the share fitted on
validation impacts, ``ExemplarBank.spectrum_mix``), the rest from the look-alike training impacts
(:meth:`ExemplarBank.visual_prior`, :func:`visual_spectrum`), and the exemplar search weighs how alike the two
impacts look beside how alike they sound. Banks without it (older runs, ``--preset paper``) work as before.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vis.audio.resample import change_rate
from vis.data.cache import CENTRED_FRAMES, FPS, K
from vis.data.io import atomic_output
from vis.errors import VisError
from vis.model.backbones import IMAGENET_FEATURES, EfficientNetLite0, colour_features, imagenet_net

BANK_SR = 48_000  # exemplar waveform rate (Hz): full audible band at half the size of 96 kHz
PRE_S = 0.1  # waveform kept before the window's centre frame (s) ...
POST_S = 0.5  # ... and after it (s): impacts and their ringing
CENTRE_ROW = (CENTRED_FRAMES // 2) * K + (K - 1) // 2  # row 22 of 45: the centre frame's own time
LONG_QUERY_FRAMES = 8  # long videos: 8-frame query windows ...
LONG_QUERY_LEAD = 1  # ... starting one frame before the peak (paper Sec. 6.1)
# Pasted segments fade in and out. An exemplar keeps PRE_S before its impact, which can be the ringing of an
# earlier one: cut in abruptly (2 ms), that start was itself heard as an onset, 0.09 s before the impact. Over
# 80 ms it is not (demo-6 detection model, 14 held-out videos: example-based onsets P 0.472 R 0.709 -> 0.477
# 0.729).
FADE_IN_S, FADE_OUT_S = 0.08, 0.05
# A pasted exemplar starts LEAD_S before its impact (half a frame, where the impact's own onset can lie, and a
# little more), fading in over CUT_FADE_S: with all of PRE_S, what preceded the impact in its recording was often
# heard as the onset, up to 80 ms early (real train videos, docs/real-footage.md: onset F1 0.516 -> 0.533).
LEAD_S = 0.02
# An exemplar ends before the next onset of its recording (fading out over CUT_FADE_S): pasted whole, the
# next impact would be a second, unpredicted impact in the output (onset precision of a detection model's
# example-based sound on 15 held-out videos: 0.35 with the whole 0.5 s).
# In a long video a pasted exemplar likewise ends where the next predicted impact begins: otherwise the search,
# which favours impacts that ring alone, chose 5 exemplars for 47 peaks of one d60 video, whose 0.5 s of
# ringing hid the next impacts (12 onsets heard; cut: 26). On d60's 15 held-out videos (detection model n5)
# example-based onsets went from P 0.475 R 0.354 to P 0.447 R 0.389 (F1 0.406 -> 0.416).
NEXT_ONSET_GAP_S = 0.1  # onsets closer than this to the window's centre frame are its own
CUT_FADE_S = 0.005
CANDIDATES = 256  # exemplars re-ranked by exact L1 distance after the projected search
PROJ_DIM = 48  # dimensions of the PCA projection used to find candidates
PROJ_SAMPLE = 5000  # exemplars the projection is fitted on
# Visual memory (measured in docs/design.md, "A visual memory for the material"): the look-alike prior is the
# similarity-weighted (softmax at VISUAL_TEMPERATURE over cosine similarity) mean of the VISUAL_NEIGHBOURS most
# alike training impacts.
VISUAL_NEIGHBOURS = 100
VISUAL_TEMPERATURE = 0.05
SPECTRUM_MIX = 0.3  # the network's share of the spectral shape in banks made before vis train fitted it (d60)
# Exemplar search, visual distance against sound distance, each over its median: on d60, 0.25 took the
# example-based sound's material from 15.2 % (sound alone, m3) to 31.2 % (m3) and 30.2 % (m4), its sq err
# from 0.141 to 0.150 and 0.155 (the no-video average shape: 0.150). A weight of 0.5 read 31.4 % at 0.152.
VISUAL_WEIGHT = 0.25
# Long videos paste only exemplars that are an impact at their centre (see ExemplarBank.impacts). Measured on
# d60's 15 held-out videos with a detection model: 27 of 37 exemplars pasted in one video peaked elsewhere in
# their window, and the example-based sound there had 20 onsets, 2 of them real (parametric: 32, 15 real).
CLEAN_IMPACT = 0.8
SCALE_PAIRS = 2000  # random exemplar pairs whose median distances scale the two terms


@dataclass
class ExemplarBank:
    """Centred training impacts.

    features : np.ndarray [shape=(M, 45, 42)] float32, envelope window around each impact, ~90 Hz
    audio : np.ndarray [shape=(M, L)] int16, waveform at ``sr``; the centre frame's time is sample ``pre``
    labels : np.ndarray [shape=(M,)] str, material of the nearest annotated event ('' if none)
    visual : np.ndarray [shape=(M, 1280)] float16 or None, unit ImageNet features of each impact's centre
        frame (:func:`vis.model.backbones.colour_features`): the visual memory
    source : str, what the bank was built from (a hash of the dataset and windows; '' if unknown), so that
        a run on the same training impacts can take it as it is
    spectrum_mix : float, the network's share in :func:`visual_spectrum`, fitted by ``vis train`` on validation
    """

    features: np.ndarray
    audio: np.ndarray
    sr: int
    pre: int
    labels: np.ndarray
    visual: np.ndarray | None = None
    source: str = ""
    spectrum_mix: float = SPECTRUM_MIX

    def __post_init__(self) -> None:
        self._proj: dict[tuple[int, int], tuple] = {}  # rows -> (mean, basis, projected bank, norms)
        self._scales: dict[tuple[int, int], tuple[float, float]] = {}  # rows -> (sound, visual) median distances
        self._visual: np.ndarray | None = None  # float32 copy of visual, made on first use
        self._impacts: tuple | None = None  # (impacts(),), computed on first use
        self.heard: dict[int, int] = {}  # exemplar -> sample where it is heard (vis.sound.longform.heard_at)
        if self.visual is not None and len(self.visual) != len(self.features):
            raise VisError(f"exemplar bank: {len(self.visual)} visual rows for {len(self.features)} exemplars")

    def __len__(self) -> int:
        return len(self.features)

    def save(self, path: str | os.PathLike) -> None:
        extra: dict[str, Any] = {} if self.visual is None else {"visual": self.visual.astype(np.float16)}
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, features=self.features, audio=self.audio, sr=self.sr, pre=self.pre, labels=self.labels,
                     source=self.source, spectrum_mix=self.spectrum_mix, **extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExemplarBank:
        p = Path(path)
        try:
            with np.load(p) as z:
                visual = z["visual"] if "visual" in z.files else None
                source = str(z["source"]) if "source" in z.files else ""
                mix = float(z["spectrum_mix"]) if "spectrum_mix" in z.files else SPECTRUM_MIX
                return cls(z["features"], z["audio"], int(z["sr"]), int(z["pre"]), z["labels"], visual, source, mix)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise VisError(f"{p}: not an exemplar bank ({e})") from None

    @staticmethod
    def source_of(path: str | os.PathLike) -> str:
        """What the bank at ``path`` was built from (its ``source``), read without loading the bank."""
        try:
            with np.load(Path(path)) as z:
                return str(z["source"]) if "source" in z.files else ""
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise VisError(f"{path}: not an exemplar bank ({e})") from None

    @property
    def has_memory(self) -> bool:
        """Whether the bank knows what its impacts looked like (a bank of ``vis train`` since the visual memory)."""
        return self.visual is not None and len(self.visual) > 0

    def _similarity(self, visual: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity [Q, M] (or [Q, len(ids)]) of unit visual features [Q, D] to the bank's."""
        if self.visual is None or not self.has_memory:
            raise VisError("this exemplar bank has no visual memory (made before it existed: retrain to add it)")
        v = np.asarray(visual, np.float32).reshape(-1, self.visual.shape[1])
        sim = v @ self._visual32().T
        return sim if ids is None else sim[:, ids]  # columns, not a copy of the bank's rows

    def _visual32(self) -> np.ndarray:
        if self._visual is None:
            self._visual = np.ascontiguousarray(self.visual, dtype=np.float32)  # stored as float16
        return self._visual

    def visual_prior(self, visual: np.ndarray, *, neighbours: int = VISUAL_NEIGHBOURS,
                     temperature: float = VISUAL_TEMPERATURE) -> np.ndarray:
        """The sound of the training impacts that look most alike.

        visual : [Q, D] unit features of each new impact's centre frame. Returns [Q, 45, 42]: the mean of the
        ``neighbours`` most similar exemplars' feature windows, weighted by ``softmax(similarity / temperature)``.
        """
        sim = self._similarity(visual)
        k = min(neighbours, len(self))
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sim, top, axis=1)
        w = np.exp((s - s.max(axis=1, keepdims=True)) / temperature)
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("qk,qkrb->qrb", w, self.features[top]).astype(np.float32)

    def with_lookalikes(self, pred: np.ndarray, visual: np.ndarray | None) -> np.ndarray:
        """Centred windows' predicted sound [Q, 45, 42] with its spectrum drawn towards that of the training
        impacts that look alike (:meth:`visual_prior`, :func:`visual_spectrum`); as it is without a memory."""
        if visual is None or not self.has_memory or len(pred) == 0:
            return pred
        return visual_spectrum(pred, self.visual_prior(visual), mix=self.spectrum_mix)

    def impacts(self) -> np.ndarray | None:
        """Exemplars whose loudest moment is their own impact: the level (L2 norm over the bands) around the
        centre row is at least CLEAN_IMPACT of the window's highest. The others are mostly the ringing of an
        earlier impact or lead up to a later one (cut from their waveform), and pasted at a peak they put no
        impact there. None when that would leave no exemplar."""
        if self._impacts is None:
            level = np.linalg.norm(self.features, axis=2)
            ok = level[:, CENTRE_ROW - 1 : CENTRE_ROW + 2].max(axis=1) >= CLEAN_IMPACT * level.max(axis=1)
            self._impacts = (np.flatnonzero(ok) if ok.any() else None,)
        return self._impacts[0]

    def _scale(self, rows: slice) -> tuple[float, float]:
        """Median L1 distance (over ``rows``) and median visual distance between random pairs of exemplars."""
        key = (rows.start or 0, rows.stop or self.features.shape[1])
        if key not in self._scales:
            rng = np.random.default_rng(0)
            a, b = rng.integers(0, len(self), (2, SCALE_PAIRS))
            sound = np.abs(self.features[a][:, rows] - self.features[b][:, rows]).reshape(len(a), -1).sum(axis=1)
            seen = 1 - (self._visual32()[a] * self._visual32()[b]).sum(axis=1)
            self._scales[key] = (max(float(np.median(sound)), 1e-8), max(float(np.median(seen)), 1e-8))
        return self._scales[key]

    def waveform(self, i: int) -> np.ndarray:
        return self.audio[i].astype(np.float32) / 32767.0

    def impact_clip(self, i: int) -> np.ndarray:
        """Exemplar ``i``'s waveform as it is pasted: silent until LEAD_S before its impact (sample ``pre``),
        fading in over CUT_FADE_S from there. [L] float32 at ``sr``; the impact stays at sample ``pre``."""
        clip = self.waveform(i)
        start = max(0, self.pre - int(round(LEAD_S * self.sr)))
        fade = min(int(round(CUT_FADE_S * self.sr)), len(clip) - start)
        clip[:start] = 0
        clip[start : start + fade] *= np.linspace(0, 1, fade, endpoint=False, dtype=np.float32)
        return clip

    def _projection(self, rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """PCA of the bank's feature windows (fitted on up to PROJ_SAMPLE exemplars) and the projected bank."""
        key = (rows.start or 0, rows.stop or self.features.shape[1])
        if key not in self._proj:
            flat = self.features[:, rows].reshape(len(self), -1)
            sample = flat[np.random.default_rng(0).permutation(len(flat))[:PROJ_SAMPLE]]
            mean = sample.mean(axis=0)
            from sklearn.utils.extmath import randomized_svd

            _, _, vt = randomized_svd(sample - mean, min(PROJ_DIM, *sample.shape), random_state=0)
            basis = np.ascontiguousarray(vt.T.astype(np.float32))
            proj = (flat - mean) @ basis
            self._proj[key] = (mean, basis, proj, (proj**2).sum(axis=1))
        return self._proj[key]

    def search(self, query: np.ndarray, *, rows: slice = slice(None), subset: np.ndarray | None = None,
               exact: bool = False, visual: np.ndarray | None = None,
               visual_weight: float = VISUAL_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
        """L1-nearest exemplars for each query.

        query : [Q, R, 42] (or [R, 42]) predicted envelopes; compared with ``features[:, rows]``.
        subset : exemplar indices to search among (e.g. one material, for the oracle methods).
        exact : compare with every exemplar. Otherwise the CANDIDATES nearest in a PCA projection are
            re-ranked by exact L1 distance (agreement with brute force is measured in the tests and
            ``benchmarks/bench_exemplars.py``).
        visual : [Q, D] (or [D]) unit features of each query impact's centre frame. With a bank that has a
            visual memory, the distance is ``L1 / median L1 + visual_weight * (1 - cos) / median (1 - cos)``
            (medians over random exemplar pairs), and the CANDIDATES most alike to look at are candidates too.
        Returns (index [Q], distance [Q]).
        """
        q, single = np.asarray(query, dtype=np.float32), np.ndim(query) == 2
        q = q.reshape(1 if single else len(q), -1)
        ids = np.arange(len(self)) if subset is None else np.asarray(subset, dtype=np.int64)
        if len(ids) == 0:
            raise VisError("exemplar search over an empty bank")
        seen = None
        if visual is not None and self.has_memory and visual_weight > 0:
            sound_scale, seen_scale = self._scale(rows)
            seen = (1 - self._similarity(visual, ids)) * (visual_weight / seen_scale)  # [Q, len(ids)]
            if len(seen) != len(q):
                raise VisError(f"exemplar search: {len(seen)} visual rows for {len(q)} queries")
        flat = self.features[:, rows].reshape(len(self), -1)
        if exact or len(ids) <= CANDIDATES:
            cand = np.broadcast_to(np.arange(len(ids)), (len(q), len(ids)))  # positions in ids
        else:
            mean, basis, proj, norms = self._projection(rows)
            qp = (q - mean) @ basis  # [Q, P]
            if subset is not None:
                proj, norms = proj[ids], norms[ids]
            d2 = norms[None, :] - 2 * qp @ proj.T  # squared distance, up to the constant |qp|^2
            cand = np.argpartition(d2, CANDIDATES, axis=1)[:, :CANDIDATES]
            if seen is not None:  # and the exemplars that look most alike
                cand = np.concatenate([cand, np.argpartition(seen, CANDIDATES, axis=1)[:, :CANDIDATES]], axis=1)
        best_i, best_d = np.empty(len(q), np.int64), np.empty(len(q), np.float32)
        for n in range(len(q)):
            c = np.unique(cand[n]) if seen is not None else cand[n]
            d = np.abs(flat[ids[c]] - q[n]).sum(axis=1)
            if seen is not None:
                d = d / sound_scale + seen[n, c]
            j = int(np.argmin(d))
            best_i[n], best_d[n] = ids[c[j]], d[j]
        return (best_i[0], best_d[0]) if single else (best_i, best_d)


def brute_force_search(bank: ExemplarBank, query: np.ndarray, *, rows: slice = slice(None)) -> tuple[int, float]:
    """The slow reference: L1 distance to every exemplar (for tests and benchmarks)."""
    d = np.abs(bank.features[:, rows].reshape(len(bank), -1) - np.asarray(query).reshape(-1)).sum(axis=1)
    return int(np.argmin(d)), float(d.min())


def build_bank(windows, audio_for: dict[str, tuple[np.ndarray, int]], *, sr: int = BANK_SR,
               labels: dict[str, list] | None = None, visual: bool = True, source: str = "") -> ExemplarBank:
    """A bank from training windows (:class:`vis.data.windows.Windows`) and each video's audio.

    audio_for : {video id: (audio [n] mono float, rate)}; labels : {video id: events} to label exemplars;
    visual : also remember what each impact looked like (its centre frame's ImageNet features);
    source : recorded in the bank (:class:`ExemplarBank`).
    """
    pre, post = int(round(PRE_S * sr)), int(round(POST_S * sr))
    resampled: dict[str, np.ndarray] = {}
    feats, clips, names = [], [], []
    for (v, start), target in zip(windows.index, windows.targets):
        vf = windows.videos[v]
        if vf.vid not in resampled:
            a, a_sr = audio_for[vf.vid]
            resampled[vf.vid] = change_rate(a, int(a_sr), sr)
        a = resampled[vf.vid]
        centre_t = (start + CENTRED_FRAMES // 2) / float(FPS)
        c = int(round(centre_t * sr))
        clip = np.zeros(pre + post, np.float32)
        lo, hi = max(0, c - pre), min(len(a), c + post)
        clip[lo - (c - pre) : hi - (c - pre)] = a[lo:hi]
        later = vf.onsets[vf.onsets > centre_t + NEXT_ONSET_GAP_S]  # the recording's next impact ...
        if len(later) and later[0] < centre_t + POST_S:  # ... is not part of this one: fade out before it
            cut_tail(clip, pre + int(round((later[0] - centre_t - CUT_FADE_S) * sr)), sr=sr)
        clips.append(np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16))
        feats.append(target)
        name = ""
        if labels and vf.vid in labels:
            near = [e for e in labels[vf.vid] if abs(e.time - centre_t) <= 0.1 and e.material]
            name = min(near, key=lambda e: abs(e.time - centre_t)).material if near else ""
        names.append(name)
    if not feats:
        raise VisError("no training impacts to build the exemplar bank from")
    seen = centre_frame_features(windows) if visual else None
    return ExemplarBank(np.stack(feats).astype(np.float32), np.stack(clips), sr, pre, np.array(names),
                        None if seen is None else seen.astype(np.float16), source)


def centre_frame_features(windows, *, batch: int = 64, net: EfficientNetLite0 | None = None) -> np.ndarray:
    """What each window's impact looks like: colour_features (vis.model.backbones) of its centre frame, [M, 1280]."""
    net = net or imagenet_net()
    out = [np.zeros((0, IMAGENET_FEATURES), np.float32)]
    for i in range(0, len(windows), batch):
        frames = [windows.videos[v].frames[s + windows.n_frames // 2] for v, s in windows.index[i : i + batch]]
        out.append(colour_features(np.stack(frames), net=net))
    return np.concatenate(out)


def visual_spectrum(pred: np.ndarray, prior: np.ndarray, *, mix: float = SPECTRUM_MIX) -> np.ndarray:
    """Predicted sound with its spectrum drawn towards that of the impacts that look alike.

    pred, prior : [..., R, 42] envelopes (the network's; :meth:`ExemplarBank.visual_prior`'s). Each row keeps
    the network's level (L2 norm over the bands) and takes the spectral shape ``mix * unit(pred) + (1 - mix)
    * unit(prior)``, rescaled to unit length. ``mix=1`` returns ``pred``.
    """
    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)

    level = np.linalg.norm(pred, axis=-1, keepdims=True)
    return (level * unit(mix * unit(pred) + (1 - mix) * unit(prior))).astype(np.float32)


def cut_tail(clip: np.ndarray, cut: int, *, sr: int = BANK_SR) -> None:
    """Silence ``clip`` from sample ``cut`` on, fading out over the CUT_FADE_S before it (in place)."""
    if cut >= len(clip):
        return
    fade = min(int(round(CUT_FADE_S * sr)), max(cut, 0))
    if fade:
        clip[cut - fade : cut] *= np.linspace(1, 0, fade, endpoint=False, dtype=np.float32)
    clip[max(cut, 0) :] = 0
