"""The sounds each evaluated method gives the test impacts: the networks', the image-match baselines', detection's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from vis.audio.cochleagram import cochleagram
from vis.audio.onsets import MIN_GAP, PEAK_PROMINENCE_DB
from vis.audio.synthesis import parametric
from vis.data.cache import FPS, K, VideoFeatures, env_on_grid, row_times
from vis.data.frames import spacetime_images
from vis.data.windows import Windows
from vis.errors import VisError
from vis.eval.metrics import (
    average_precision,
    onset_metrics,
    precision_recall,
)
from vis.model.backbones import imagenet_net
from vis.model.checkpoint import SoundPCA
from vis.model.device import autocast, model_device
from vis.model.inputs import forward
from vis.model.onset import OnsetDetector, probability_peaks
from vis.sound.exemplars import ExemplarBank, centre_frame_features
from vis.sound.impacts import detected_impacts
from vis.sound.peaks import detect_peaks
from vis.sound.windowed import predict_cached, uses_flow

LABEL_KINDS = ("material", "action", "reaction", "hardness")

LABEL_TOL = 0.1  # a test impact takes the labels of an annotated event within 0.1 s of its centre

ONSET_CLIP_S = 2.0  # onset accuracy / AP per 2 s clip, the clip length of later generation work


def _labels(videos: list[VideoFeatures], events: dict[str, list], index: np.ndarray) -> dict[str, np.ndarray]:
    """Labels of each window (nearest annotated event within LABEL_TOL of its centre frame), '' if none."""
    out: dict[str, list] = {k: [] for k in LABEL_KINDS}
    for v, s in index:
        t = (s + 7) / float(FPS)
        near = [e for e in events[videos[v].vid] if abs(e.time - t) <= LABEL_TOL]
        e = min(near, key=lambda e: abs(e.time - t)) if near else None
        for k in LABEL_KINDS:
            out[k].append((e.label(k) if e else None) or "")
    return {k: np.array(v) for k, v in out.items()}


def predict_windows(net, pca, windows, *, batch: int = 32) -> np.ndarray:
    """The network's envelopes for every window: [M, N*K, 42] (lagged models get their future frames)."""
    out = []
    lag = net.cfg.lag
    dev = model_device(net)
    with torch.no_grad(), autocast(dev):
        for i in range(0, len(windows), batch):
            rows = np.arange(i, min(i + batch, len(windows)))
            frames, motion = [], []
            for v, s in windows.index[rows]:
                f = windows.videos[v].frames
                idx = np.clip(np.arange(s - 1, s + windows.n_frames + 1 + lag), 0, len(f) - 1)
                frames.append(np.asarray(f[idx]))
                if uses_flow(net):  # the optical-flow features of the same frames (vis prepare made them)
                    motion.append(windows.videos[v].motion_rows(idx[1:-1]))
            batch_ = {"frames": np.stack(frames), **({"motion": np.stack(motion)} if motion else {})}
            code = forward(net, batch_, net.cfg).float().cpu().numpy()
            out.append(pca.decode(code[:, lag * K : lag * K + windows.n_frames * K]))
    return np.concatenate(out)


def image_features(windows, *, batch: int = 64) -> dict[str, np.ndarray]:
    """ImageNet EfficientNet-Lite0 features (pooled, 1280, unit length) of each window's centre frame: of the
    colour image (:func:`vis.sound.exemplars.centre_frame_features`), of the spacetime image, and of both."""
    net = imagenet_net()
    col = centre_frame_features(windows, batch=batch, net=net)
    parts = []
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            frames = []
            for v, s in windows.index[i : i + batch]:
                c = s + windows.n_frames // 2
                frames.append(np.asarray(windows.videos[v].frames[c - 1 : c + 2]))
            parts.append(net.imagenet_features(spacetime_images(torch.from_numpy(np.stack(frames)))[:, 0]).numpy())
    st = _unit(np.concatenate(parts))
    return {"image": col, "spacetime": st, "image+spacetime": _unit(np.concatenate([col, st], axis=1))}


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8)


def _nearest(query: np.ndarray, base: np.ndarray, allowed: list[np.ndarray] | None = None) -> np.ndarray:
    """Index of the nearest (largest dot product) row of ``base`` for each query, among ``allowed[i]``."""
    sim = query @ base.T
    if allowed is not None:
        mask = np.full(sim.shape, -np.inf)
        for i, a in enumerate(allowed):
            mask[i, a] = 0
        sim = sim + mask
    return sim.argmax(axis=1)


def _parametric_features(pred: np.ndarray) -> np.ndarray:
    """Cochleagram of the parametric waveform of each predicted window (re-analysed): [M, 45, 42]."""
    grid = row_times(pred.shape[1] // K)
    rate = K * float(FPS)
    out = []
    for env in pred:
        wave = parametric(env, env_rate=rate, sr_out=20_000)
        e, t = cochleagram(wave, 20_000)
        out.append(env_on_grid(e, t + grid[0], grid))  # the waveform starts at the first row's time
    return np.stack(out)


def _search(bank, tr, queries: np.ndarray, allowed: list[np.ndarray] | None = None, *,
            visual: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Nearest training impact (L1 over the whole window) for each query, optionally among ``allowed``;
    ``visual`` (training impacts', queries' centre-frame features) adds how alike they look
    (:meth:`vis.sound.exemplars.ExemplarBank.search`)."""
    base = ExemplarBank(tr.targets, np.zeros((len(tr), 1), np.int16), bank.sr, 0, np.array([""] * len(tr)),
                        None if visual is None else visual[0].astype(np.float16))
    q_seen = None if visual is None else visual[1]
    if allowed is None:
        return base.search(queries, visual=q_seen)[0]
    return np.array([base.search(q, subset=a if len(a) else None, visual=None if q_seen is None else q_seen[i])[0]
                     for i, (q, a) in enumerate(zip(queries, allowed))])


def detection_metrics(net, pca, videos: list[VideoFeatures], events: dict[str, list], *,
                      prominence_db: float = PEAK_PROMINENCE_DB, min_gap: float = MIN_GAP) -> dict:
    """Detection AP and onset accuracy / AP over full test videos (every annotated event is an onset).

    The peaks scored are those the model's sound has: prominence ``>= prominence_db``, at least ``min_gap``
    s apart (:func:`vis.sound.peaks.peak_params` of its checkpoint).
    """
    found = []
    for vf in videos:
        pred = predict_cached(net, pca, vf)
        found.append((*detect_peaks(pred, prominence_db=prominence_db, min_gap=min_gap), pred.duration))
    return score_peaks(found, [events[vf.vid] for vf in videos])


def score_peaks(found: list[tuple[np.ndarray, np.ndarray, float]], events: list[list]) -> dict:
    """Detection AP (pooled over videos and per video) and onset accuracy / AP per 2 s clip of predicted
    impacts ``(times, scores, duration)`` per video against its annotated ``events``."""
    aps, accs, oaps, n_pred, n_true = [], [], [], 0, 0
    all_p, all_s, all_t, offset = [], [], [], 0.0
    for (times, scores, duration), evs in zip(found, events):
        truth = np.array([e.time for e in evs if e.time < duration])
        om = onset_metrics(times, scores, truth, duration=duration, clip_s=ONSET_CLIP_S)
        if len(truth):
            aps.append(average_precision(times, scores, truth))
            accs.append(om["onset_acc"])
            oaps.append(om["onset_ap"])
        all_p.append(times + offset)
        all_s.append(scores)
        all_t.append(truth + offset)
        offset += duration + 1.0
        n_pred += len(times)
        n_true += len(truth)
    pooled = average_precision(np.concatenate(all_p), np.concatenate(all_s), np.concatenate(all_t))
    return {"ap": pooled, "ap_per_video": float(np.mean(aps)) if aps else np.nan,
            "onset_acc": float(np.mean(accs)) if accs else np.nan, "onset_ap": float(np.mean(oaps)) if oaps else np.nan,
            "predicted_onsets": n_pred, "true_onsets": n_true, "videos": len(found)}


def impact_detector_metrics(detector: OnsetDetector, videos: list[VideoFeatures], events: dict[str, list],
                            rates: dict[str, Fraction | None] | None = None) -> dict:
    """The impact detector (:mod:`vis.model.onset`) over full test videos, against every annotated event:
    :func:`score_peaks` of all its peaks (scored by probability, any threshold: AP), and the precision /
    recall / F1 of the impacts it keeps (:func:`vis.sound.impacts.detected_impacts`: above its fitted threshold, or
    a video's most probable peak near it), within 0.1 s one to one. ``rates``: each video's frame rate, for
    :meth:`vis.model.onset.OnsetDetector.for_rate` (None: full rate)."""
    found, kept, truths, offset, low_rate = [], [], [], 0.0, []
    for vf in videos:
        if vf.motion is None:
            raise VisError(f"{vf.vid}: motion features not prepared")
        det = detector.for_rate((rates or {}).get(vf.vid))
        if det is not detector:
            low_rate.append(vf.vid)
        prob = det.probabilities(np.asarray(vf.motion))
        times, scores = probability_peaks(prob, fps=float(FPS), threshold=0.0, min_gap_s=det.min_gap_s,
                                          subframe=True)  # as vis predict places them
        found.append((times, scores, vf.duration))
        kept.append(detected_impacts(det, prob)[0] + offset)  # what vis predict keeps
        truths.append(np.array([e.time for e in events[vf.vid] if e.time < vf.duration]) + offset)
        offset += vf.duration + 1.0
    pr = precision_recall(np.concatenate(kept), np.concatenate(truths))
    return {**score_peaks(found, [events[vf.vid] for vf in videos]), "precision": pr["precision"],
            "recall": pr["recall"], "f1": pr["f1"], "kept_onsets": pr["pred"], "threshold": detector.threshold,
            "low_rate_videos": low_rate}


# ---------------------------------------------------------------------------------------------- the registry


@dataclass
class Impacts:
    """What the evaluated methods draw on: the centred training and test impacts (windows) with their labels,
    the full system's exemplar bank and sound PCA, the no-video baselines' sounds, the impacts' centre-frame
    ImageNet features (``looks``: training, test; None when no method needs them), a seeded generator, and
    the features of the methods computed so far (``feats``: the networks' first)."""

    train: Windows
    test: Windows
    train_labels: dict[str, np.ndarray]
    test_labels: dict[str, np.ndarray]
    bank: ExemplarBank
    pca: SoundPCA
    no_video: dict[str, np.ndarray]
    looks: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None
    rng: np.random.Generator
    feats: dict[str, np.ndarray]

    @functools.cached_property
    def same_material(self) -> list[np.ndarray]:
        """For each test impact, the training impacts of its material (all of them when it has no label)."""
        return [np.flatnonzero(self.train_labels["material"] == m) if m else np.arange(len(self.train))
                for m in self.test_labels["material"]]

    @property
    def seen(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The colour-image features the example search also weighs, with a visual memory in the bank."""
        return (self.looks[0]["image"], self.looks[1]["image"]) if self.looks and self.bank.has_memory else None

    def nearest_looking(self, kind: str, allowed: list[np.ndarray] | None = None) -> np.ndarray:
        assert self.looks is not None, "image features not computed"
        return self.train.targets[_nearest(self.looks[1][kind], self.looks[0][kind], allowed)]


Method = Callable[[Impacts], np.ndarray]
# Every method but the networks' ("full", "network-only", --compare runs): name -> its features [M, 45, 42] for
# the test impacts, computed in this order (the random ones draw from Impacts.rng in turn)
METHODS: dict[str, Method] = {}
LOOKS = ("image-match", "spacetime-match", "image+spacetime-match", "image+spacetime-match+mat")  # need image features


def method(name: str) -> Callable[[Method], Method]:
    """Register an evaluation method under ``name``."""
    def register(fn: Method) -> Method:
        METHODS[name] = fn
        return fn

    return register


@method("full-example")
def _full_example(m: Impacts) -> np.ndarray:
    return m.train.targets[_search(m.bank, m.train, m.feats["full"], visual=m.seen)]


@method("full-example+mat")
def _full_example_mat(m: Impacts) -> np.ndarray:
    return m.train.targets[_search(m.bank, m.train, m.feats["full"], m.same_material, visual=m.seen)]


@method("parametric")
def _parametric(m: Impacts) -> np.ndarray:
    return _parametric_features(m.feats["full"])


@method("image-match")
def _image_match(m: Impacts) -> np.ndarray:
    return m.nearest_looking("image")


@method("spacetime-match")
def _spacetime_match(m: Impacts) -> np.ndarray:
    return m.nearest_looking("spacetime")


@method("image+spacetime-match")
def _image_spacetime_match(m: Impacts) -> np.ndarray:
    return m.nearest_looking("image+spacetime")


@method("image+spacetime-match+mat")
def _image_spacetime_match_mat(m: Impacts) -> np.ndarray:
    return m.nearest_looking("image+spacetime", m.same_material)


@method("random")
def _random(m: Impacts) -> np.ndarray:
    return m.train.targets[m.rng.integers(0, len(m.train), len(m.test))]


@method("random+mat")
def _random_mat(m: Impacts) -> np.ndarray:
    n = len(m.train)
    return m.train.targets[[m.rng.choice(a) if len(a) else m.rng.integers(n) for a in m.same_material]]


@method("real-match")
def _real_match(m: Impacts) -> np.ndarray:
    return m.train.targets[_search(m.bank, m.train, m.test.targets)]


@method("mean")
def _mean(m: Impacts) -> np.ndarray:
    return m.no_video["mean"]


@method("average-shape")
def _average_shape(m: Impacts) -> np.ndarray:
    return m.no_video["average-shape"]
