"""``vis evaluate``: the paper's experiments on the test split as one command (Sec. 6.2-6.3, Fig. 3, 5, 6, 8).

Test impacts are the centred windows around the onsets detected in each test video's real sound (the
paper's "videos centered on audio amplitude peaks"), labelled with the nearest annotated event within
0.1 s. Every method produces a sound-feature window [45, 42] per test impact:

- ``full``: the network's predicted features (the paper computes its auditory metrics on these), with a
  visual memory in the run's bank (:mod:`vis.sound.exemplars`) drawn towards the look-alike training impacts';
- ``network-only``: the network's predicted features as they are (no visual memory);
- ``full-example``: the features of the training impact that example-based synthesis transfers (nearest
  in sound and, with a visual memory, in looks);
- ``parametric``: the cochleagram of the parametric waveform made from the prediction;
- ``image-match`` / ``spacetime-match`` / ``image+spacetime-match``: the training impact whose centre
  frame is nearest in ImageNet CNN features (EfficientNet-Lite0, pooled) of the colour image, the
  spacetime image, or both;
- ``random``: a random training impact;  ``real-match``: the training impact nearest to the real sound;
- ``mean``: the mean training sound (the PCA mean at every row);
- ``average-shape``: the mean training window, row by row (the average impact's time course; no video);
- ``+mat`` oracles (on impacts with a material label): ``full-example+mat``, ``image+spacetime-match+mat``
  and ``random+mat`` draw only from training impacts of the same material;
- any other run given with ``--compare NAME=RUN`` (e.g. ``no-rnn``, ``no-spacetime``, ``scratch``):
  that network's predicted features.

Metrics per method: the centred task's loss (Eq. 4, in the full model's PCA space); ``sq_err``, the
squared error per row of the square-rooted envelopes (:func:`vis.eval.metrics.sq_err`); ``contrast``, the
envelope norm at the impact centre minus that of the first rows (:func:`vis.eval.metrics.contrast`; the real
sound's is ``real_contrast``); loudness and
spectral centroid (mean abs error, Pearson r; Fig. 5a); material,
action, reaction and hardness class-averaged accuracy of a linear SVM trained on real training sounds
(classes resampled to equal size) and applied to the method's features (Fig. 3b, 5b, 6b); with a
detection model (``--task detection`` run, or ``--detection NAME=RUN``), detection AP and onset
accuracy / AP on the full test videos (Sec. 6.2, :mod:`vis.eval.metrics`). ``beats_no_video_baselines``: whether
the network's ``sq_err`` is below both no-video baselines' (``mean`` and ``average-shape``), and
``sq_err_margin``, how far below the better of the two as a fraction of it (negative: above).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vis.data.cache import FPS, K, VideoFeatures, default_cache_dir, env_on_grid, load, prepare
from vis.data.io import atomic_output
from vis.data.media import probe
from vis.data.windows import Windows, centred_windows
from vis.errors import VisError
from vis.eval.methods import (
    LABEL_KINDS,
    LOOKS,
    METHODS,
    Impacts,
    _labels,
    detection_metrics,
    image_features,
    impact_detector_metrics,
    predict_windows,
)
from vis.eval.metrics import (
    centroid,
    class_averaged_accuracy,
    confusion_matrix,
    contrast,
    error_and_r,
    fit_linear_classifier,
    loudness,
    similarity_order,
    soft_confusion,
    sq_err,
)
from vis.eval.proxy import load_study, proxy_metrics, study_comparison
from vis.eval.report import evaluation_report
from vis.model.checkpoint import LoadedModel, load_model, no_video_sounds
from vis.model.losses import robust_loss
from vis.model.onset import OnsetDetector
from vis.plots import save_confusion_png, save_mean_cochleagrams_png, save_prediction_figure_png
from vis.sound.exemplars import ExemplarBank
from vis.sound.peaks import peak_params
from vis.sound.windowed import predict_cached, uses_flow

BASE_METHODS = ("full", "network-only", "full-example", "parametric", "image-match", "spacetime-match",
                "image+spacetime-match", "random", "real-match", "mean", "average-shape")
ORACLE_METHODS = ("full-example+mat", "image+spacetime-match+mat", "random+mat", "full-example",
                  "image+spacetime-match", "random", "real-match")
ALL_METHODS = tuple(dict.fromkeys(BASE_METHODS + ORACLE_METHODS))  # --methods: the networks' and METHODS
FIG8_VIDEOS = 3  # test videos shown in the predicted-vs-true figure


def sound_metrics(feats: np.ndarray, true: np.ndarray, labels: dict, classifiers: dict, mask: np.ndarray | None = None
                  ) -> dict:
    """Loudness / centroid error and r, and class-averaged accuracy per label kind, for one method."""
    m = np.ones(len(true), bool) if mask is None else mask
    f, t = feats[m], true[m]
    out = {}
    out["loudness_err"], out["loudness_r"] = error_and_r(loudness(f), loudness(t))
    out["centroid_err"], out["centroid_r"] = error_and_r(centroid(f), centroid(t))
    flat = f.reshape(len(f), -1)
    for kind, (clf, vocab) in classifiers.items():
        y = labels[kind][m]
        keep = y != ""
        out[f"{kind}_acc"] = class_averaged_accuracy(y[keep], clf.predict(flat[keep]), vocab) if keep.any() else np.nan
    return out


def evaluate(ds, run: str | os.PathLike, out: str | os.PathLike, *, cache: str | os.PathLike | None = None,
             methods: list[str] | None = None, compare: dict[str, str] | None = None,
             detection: dict[str, str] | None = None, seed: int = 0, progress: bool = True,
             device: str = "cpu", study: str | os.PathLike | None = None) -> dict:
    """Run the evaluation (the networks on ``device``); write ``out/metrics.json``, ``out/report.md`` and
    figures. Returns the metrics. ``study``: a human study's results to set beside the automated proxy
    (:func:`vis.eval.proxy.load_study`)."""
    t0 = time.time()
    human = load_study(study) if study is not None else None  # read first: a bad file fails before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cache) if cache else default_cache_dir(ds.root)
    runs = {"full": load_model(run, device=device)}
    runs.update({name: load_model(path, device=device) for name, path in (compare or {}).items()})
    # each network's visual memory (its training impacts); the full system's bank is required
    banks = {name: ExemplarBank.load(m.run.bank) if name == "full" or m.run.bank.is_file() else None
             for name, m in runs.items()}
    det_runs = {name: load_model(path, device=device) for name, path in (detection or {}).items()}
    if runs["full"].task.whole_videos:
        det_runs.setdefault("full", runs["full"])
    wanted = list(methods or ALL_METHODS)
    for name in wanted:
        if name not in ALL_METHODS:
            raise VisError(f"unknown method {name!r} (one of {', '.join(ALL_METHODS)})")
    train_ids, test_ids = ds.split("train"), ds.split("test")
    if not test_ids:
        raise VisError(f"{ds.root}: the test split is empty")
    stores = _prepare(ds, cache, [*runs.values(), *det_runs.values()], train_ids + test_ids, progress=progress)
    train_ids = [v for v in train_ids if v in ds.files]  # --skip-broken may have dropped some
    test_ids = [v for v in test_ids if v in ds.files]
    size = runs["full"].image_size

    def videos(ids: list[str], size: tuple[int, int] = size) -> list[VideoFeatures]:
        return [load(cache, v, size, store=stores[size]) for v in ids]

    events = {v: ds.events(v) for v in train_ids + test_ids}
    tr_videos, te_videos = videos(train_ids), videos(test_ids)
    tr, te = centred_windows(tr_videos), centred_windows(te_videos)
    if len(te) == 0 or len(tr) == 0:
        raise VisError(f"{ds.root}: no centred impacts in the train or test split")
    tr_lab, te_lab = _labels(tr_videos, events, tr.index), _labels(te_videos, events, te.index)
    classifiers = _classifiers(ds, tr, tr_lab, train_ids, seed=seed)
    impacts = _impacts(runs, banks, tr, te, tr_lab, te_lab, set(wanted), seed=seed,
                       test_windows=lambda size: centred_windows(videos(test_ids, size)))
    metrics = _metrics(impacts, classifiers, seed=seed)
    if human is not None:
        metrics["study"] = study_comparison(metrics["methods"], human)

    # Detection on the full test videos.
    for name, m in det_runs.items():
        metrics["detection"][name] = detection_metrics(m.net, m.pca, videos(test_ids, m.image_size), events,
                                                       **peak_params(m.checkpoint))
    detector = runs["full"].impact_detector
    if detector is not None:  # the default recipe's impact detector, on the same full test videos
        rates = {vf.vid: probe(ds.video_path(vf.vid)).fps for vf in te_videos}  # 15 fps video: the low-rate one
        metrics["detection"]["impact-detector"] = impact_detector_metrics(OnsetDetector.from_dict(detector),
                                                                          te_videos, events, rates)

    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    _figures(figs, tr, tr_lab, te, te_lab, impacts.feats, classifiers, runs["full"], te_videos, ds)
    metrics["seconds"] = round(time.time() - t0, 1)
    with atomic_output(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(_clean(metrics), indent=2))
    with atomic_output(out / "report.md") as tmp:
        tmp.write_text(evaluation_report(metrics, run=str(run), data=str(ds.root)))
    return metrics


def _prepare(ds, cache: Path, models: list[LoadedModel], ids: list[str], *, progress: bool = True
             ) -> dict[tuple[int, int], str]:
    """Prepare ``ids`` for every model: each frame size once, in the store its run was trained from (the paper's
    recipe: JPEG, ~15 GB, not ~143), with the motion features when a model reads them. Returns the stores."""
    stores: dict[tuple[int, int], str] = {}
    for m in models:
        stores.setdefault(m.image_size, m.frame_store)
    flow = any(uses_flow(m.net) or m.impact_detector is not None for m in models)
    for size, store in sorted(stores.items()):
        prepare(ds, cache, size=size, ids=ids, store=store, motion=flow, progress=progress)
    return stores


def _classifiers(ds, tr: Windows, tr_lab: dict[str, np.ndarray], train_ids: list[str], *, seed: int = 0) -> dict:
    """Per label kind, a linear classifier trained on the real training sounds (Sec. 4, 6.3) and its classes."""
    classifiers = {}
    for kind in LABEL_KINDS:
        y = tr_lab[kind]
        keep = y != ""
        vocab = ds.vocabulary(kind, train_ids)
        if keep.sum() >= 2 and len(set(y[keep])) >= 2:
            classifiers[kind] = (fit_linear_classifier(tr.targets[keep].reshape(keep.sum(), -1), y[keep], seed=seed),
                                 vocab)
    return classifiers


def _impacts(runs: dict[str, LoadedModel], banks: dict[str, ExemplarBank | None], tr: Windows, te: Windows,
             tr_lab: dict, te_lab: dict, wanted: set[str], *, seed: int,
             test_windows: Callable[[tuple[int, int]], Windows]) -> Impacts:
    """Every wanted method's features for every test impact: the networks' (each with the visual memory of its
    run's bank), then those of :data:`vis.eval.methods.METHODS` in turn. What the impacts look like (their
    centre frames' ImageNet features) feeds the visual memories and the image-match methods."""
    memory = any(b is not None and b.has_memory for b in banks.values())
    looks = (image_features(tr), image_features(te)) if memory or wanted & set(LOOKS) else None
    feats: dict[str, np.ndarray] = {"real": te.targets}
    size = runs["full"].image_size
    for name, m in runs.items():
        pred = predict_windows(m.net, m.pca, te if m.image_size == size else test_windows(m.image_size))
        if name == "full" and "network-only" in wanted:
            feats["network-only"] = pred
        b = banks[name]
        feats[name] = b.with_lookalikes(pred, looks[1]["image"]) if b is not None and b.has_memory and looks else pred
    no_video = {name: np.broadcast_to(row, te.targets.shape).copy()
                for name, row in no_video_sounds(tr.targets, runs["full"].pca).items()}
    full_bank = banks["full"]
    assert full_bank is not None
    impacts = Impacts(tr, te, tr_lab, te_lab, full_bank, runs["full"].pca, no_video, looks,
                      np.random.default_rng(seed), feats)
    for name, method in METHODS.items():  # in the registry's order
        if name in wanted:
            feats[name] = method(impacts)
    return impacts


def _metrics(impacts: Impacts, classifiers: dict, *, seed: int = 0) -> dict:
    """Each method's metrics (module docstring), the oracles' on the labelled impacts, the verdict against the
    no-video baselines and the automated stand-in for the listening study."""
    true, feats, te_lab, pca = impacts.test.targets, impacts.feats, impacts.test_labels, impacts.pca
    labelled = te_lab["material"] != ""
    metrics: dict[str, Any] = {"test_impacts": int(len(impacts.test)), "labelled_impacts": int(labelled.sum()),
               "train_impacts": int(len(impacts.train)), "real_contrast": float(contrast(true).mean()),
               "methods": {}, "oracle": {}, "detection": {}}
    metrics.update(baseline_verdict(sq_err(feats["full"], true),
                                    {name: sq_err(f, true) for name, f in impacts.no_video.items()}))
    true_code = torch.from_numpy(pca.encode(true))
    for name, f in feats.items():
        if not name.endswith("+mat"):
            row = metrics["methods"][name] = sound_metrics(f, true, te_lab, classifiers)
            # the centred task's loss (Eq. 4) in the full model's PCA space: lower is better
            row["loss"] = robust_loss(torch.from_numpy(pca.encode(f)), true_code).item()
            row["sq_err"] = sq_err(f, true)
            row["contrast"] = float(contrast(f).mean())
        if name in ORACLE_METHODS or name.endswith("+mat") or name == "real":
            metrics["oracle"][name] = sound_metrics(f, true, te_lab, classifiers, mask=labelled)
    # The automated stand-in for the listening study: real-vs-fake fooling rate and Fréchet distance.
    for name, row in proxy_metrics({n: feats[n] for n in metrics["methods"]}, impacts.test.index[:, 0],
                                   seed=seed).items():
        metrics["methods"][name].update(row)
    return metrics


def baseline_verdict(network: float, baselines: dict[str, float]) -> dict:
    """Whether the network's sq_err is below every no-video baseline's, and by what fraction of the best.

    Returns ``beats_no_video_baselines`` (bool), ``sq_err_margin`` ((best baseline - network) / best
    baseline: > 0 below it, < 0 above it) and ``no_video_sq_err`` ({baseline: sq_err}).
    """
    best = min(baselines.values())
    margin = (best - network) / best if best > 0 else (0.0 if network == best else -math.inf)
    return {"beats_no_video_baselines": bool(network < best), "sq_err_margin": margin,
            "no_video_sq_err": dict(baselines)}


def _figures(figs: Path, tr, tr_lab, te, te_lab, feats, classifiers, model: LoadedModel, te_videos, ds) -> None:
    real = np.concatenate([tr.targets, te.targets])
    for kind in ("material", "reaction"):
        lab = np.concatenate([tr_lab[kind], te_lab[kind]])
        vocab = [c for c in ds.vocabulary(kind) if np.any(lab == c)]
        if vocab:
            save_mean_cochleagrams_png(figs / f"mean_cochleagram_{kind}.png",
                                       {c: real[lab == c].mean(0) for c in vocab}, title=f"mean cochleagram per {kind}")
    if "material" in classifiers:
        clf, vocab = classifiers["material"]
        y = te_lab["material"]
        keep = y != ""
        if keep.any():
            vocab = [c for c in vocab if c in set(y[keep]) | set(tr_lab["material"])]
            order = similarity_order(soft_confusion(clf, te.targets[keep].reshape(keep.sum(), -1), y[keep], vocab))
            vocab = [vocab[i] for i in order]
            for name in ("real", "full"):
                m = confusion_matrix(y[keep], clf.predict(feats[name][keep].reshape(keep.sum(), -1)), vocab)
                title = f"material from {'real' if name == 'real' else 'predicted'} sound"
                save_confusion_png(figs / f"confusion_material_{name}.png", m, vocab, title=title)

    for vf in te_videos[:FIG8_VIDEOS]:
        pred = predict_cached(model.net, model.pca, vf)
        n = min(len(pred.env), int(8 * K * float(FPS)))  # the first 8 s
        idx = np.linspace(0, n // K - 1, 6).astype(int)

        truth = env_on_grid(vf.env, vf.times, pred.times[:n])
        save_prediction_figure_png(figs / f"prediction_{vf.vid}.png", np.asarray(vf.frames[idx]), idx / float(FPS),
                                   pred.env[:n], truth, pred.times[:n], title=vf.vid)


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, float | np.floating):
        return None if not np.isfinite(x) else round(float(x), 4)
    if isinstance(x, np.integer):
        return int(x)
    return x
