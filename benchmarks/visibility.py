"""Visibility audit of the synthetic data: how much of each contact's sound could a camera explain?

For every contact (hit or scratch) of ``--videos`` synthetic videos (built with
:func:`vis.synth.synthesize` at 456x256; no frame is rendered, the stick tip's drawn position per frame
comes from ``scene.tip(i)``), the script collects:

* sound attributes, as the project's metrics define them (:mod:`vis.eval.metrics`, paper Sec. 6.2): the
  cochleagram of the denoised track, the 45-row window (0.5 s) whose row 22 is the row nearest the
  contact time, its loudness (``log`` of :func:`vis.eval.metrics.loudness`) and spectral centroid
  (:func:`vis.eval.metrics.centroid`, channel units);
* visible ground truth (what a camera sees): the tip's image speed just before contact (px/frame at a
  256-px-high frame, from the drawn tip of the two frames before the contact frame, camera shake and the
  ``KZ * height`` rise included), the approach speed (the largest frame-to-frame step over the last four
  frames before the contact frame), the material, the region's object size factor and base colour,
  the action and, for scratches, the drag length (px at 256 px high);
* the generator's true strike speed (``Contact.speed``), which a camera sees only through the tip.

Report (printed and, with ``--json``, written):

1. R^2 (pooled over 5-fold cross-validation grouped by video; ridge regression on one-hot and log
   features, gradient boosting as a check on (c)) of log loudness and of centroid from (a) visible speed
   only, (b) material only, (c) material + visible speed + action + size (+ drag), (c) without the
   visible speed (what the tip's image speed adds), and (d) (c) plus the true ``Contact.speed`` (what a
   perfect reading of the strike speed would add). The residual of (c) is what no camera sees
   (recorder gain, per-object level / detune / damping, per-hit randomness); it is split into a per-video
   part (variance of the video means), a per-region part (region means within a video) and a per-hit
   part, as fractions of the target's total variance.
2. Class-averaged material accuracy (5-fold video-grouped CV, linear SVM on standardised features with
   class-balanced weights, the model of :mod:`vis.synth.evaluate`) from the sound window (the 45 x 42
   envelopes flattened, PCA to 64) and from appearance ground truth (region base colour + size factor).
3. The tip's image speed: median and 90th percentile of px/frame over the frames in the 0.3 s before
   each contact, and over all frames where the tip moves, beside the real Greatest Hits figures.
4. Whether visible ground truth explains at least what the paper's predicted sounds did on real data
   (loudness r 0.44, centroid r 0.47, material 22.7 %).

Run::

    .venv/bin/python benchmarks/visibility.py [--videos 60] [--seconds 20] [--seed 1] [--json OUT]

Audio synthesis dominates the cost (~2.5 s per 20-s video on one core); the default run takes ~3 min.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

WINDOW_ROWS = 45  # 0.5 s of cochleagram at ~90 Hz (the centred task's window, vis.data.cache.CENTRED_ROWS)
CENTRE_ROW = WINDOW_ROWS // 2  # 22: the row nearest the contact time
NEAR_S = 0.3  # "near contact": the frames in the 0.3 s before a contact
MOVING_PX = 1.0  # a frame "moves" when the tip moved more than this (px/frame, 256-px frame) since the last
REAL_SPEED = {"median": 11.0, "p90": 33.0}  # real Greatest Hits tip speed near contact, px/frame at 456x256
# The paper's real-data results from predicted sound (Table 2 / Sec. 6.2, full model): Pearson r of
# loudness and centroid, and class-averaged material accuracy of a classifier on the predicted sound.
PAPER = {"loudness_r": 0.44, "centroid_r": 0.47, "material_acc": 0.227}


# ---------------------------------------------------------------------------------------------- per video


def tip_track(scene) -> np.ndarray:
    """Drawn tip position in every frame, in px of a 256-px-high frame: float64 [n_frames, 2] (x, y)."""
    xy = np.array([[(d := scene.tip(i))["x"], d["y"]] for i in range(scene.n_frames)], dtype=np.float64)
    return xy / scene.px


def step_speeds(track: np.ndarray) -> np.ndarray:
    """Image speed at each frame from the previous one (px/frame): [n_frames], NaN at frame 0."""
    out = np.full(len(track), np.nan)
    out[1:] = np.hypot(*np.diff(track, axis=0).T)
    return out


def contact_speeds(steps: np.ndarray, frame: int, *, approach: int = 4) -> tuple[float, float]:
    """Visible speeds of a contact whose contact frame is ``frame`` (px/frame).

    ``speed``: the tip's step between the two frames before the contact frame (``frame - 2 -> frame - 1``);
    ``approach``: the largest step into each of the last ``approach`` frames before the contact frame.
    """
    lo = max(1, frame - approach)
    speed = steps[frame - 1] if frame >= 2 else np.nan
    window = steps[lo:frame]
    return float(speed), float(np.nanmax(window)) if window.size and np.isfinite(window).any() else float("nan")


def sound_windows(env: np.ndarray, times: np.ndarray, at: np.ndarray, *, rows: int = WINDOW_ROWS) -> np.ndarray:
    """Cochleagram windows [M, rows, 42] whose centre row (``rows // 2``) is the row nearest each time in
    ``at`` [M] (s); rows beyond the track repeat its first / last row."""
    at = np.asarray(at, dtype=np.float64)
    j = np.clip(np.searchsorted(times, at), 1, len(times) - 1)
    nearest = np.where(np.abs(times[j - 1] - at) <= np.abs(times[j] - at), j - 1, j)
    idx = np.clip(nearest[:, None] + np.arange(rows)[None, :] - rows // 2, 0, len(env) - 1)
    return env[idx]


def video_records(video, *, near_s: float = NEAR_S) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    """Everything measured on one :class:`vis.synth.Video`.

    Returns ``(records, windows, near, steps)``: one dict per contact (sound attributes, visible and hidden
    factors), the sound windows [M, 45, 42], a bool mask [n_frames] of the frames within ``near_s`` s
    before a contact, and the per-frame tip steps [n_frames] (px/frame at 256 px high).
    """
    from vis.audio.cochleagram import cochleagram
    from vis.eval.metrics import centroid, loudness
    from vis.synth.sound import SR

    scene = video.scene
    steps = step_speeds(tip_track(scene))
    env, times = cochleagram(video.denoised, SR)
    contacts = video.contacts
    win = sound_windows(env, times, np.array([c.time for c in contacts]))
    loud, cent = loudness(win), centroid(win, centre_row=CENTRE_ROW)
    frame_t = np.arange(scene.n_frames) / scene.fps
    near = np.zeros(scene.n_frames, bool)
    records = []
    for k, c in enumerate(contacts):
        f = int(np.clip(round(c.time * scene.fps), 0, scene.n_frames - 1))
        speed, approach = contact_speeds(steps, f)
        near |= (frame_t >= c.time - near_s) & (frame_t < c.time)
        reg = scene.regions[c.region]
        records.append({
            "video": video.id, "region": int(c.region), "time": float(c.time), "material": c.material,
            "action": c.action, "reaction": c.reaction, "size": float(reg.size), "colour": list(reg.colour),
            "speed_px": speed, "approach_px": approach, "drag_px": float(np.hypot(*c.drag)) / scene.px,
            "true_speed": float(c.speed), "loudness": float(loud[k]), "centroid": float(cent[k]),
        })
    return records, win, near, steps


def collect(*, videos: int, seconds: float, seed: int, size: tuple[int, int] = (456, 256),
            progress: bool = True) -> dict:
    """Synthesize ``videos`` videos (no frames rendered) and measure every contact.

    Returns ``{"records": [dict] (one per contact), "windows": float32 [N, 45, 42], "near_steps": [F1]
    px/frame of the frames near contacts, "all_steps": [F2] px/frame of every frame, "synth_s",
    "measure_s"}``.
    """
    from vis.synth import synthesize

    records, windows, near_steps, all_steps = [], [], [], []
    t_synth = t_measure = 0.0
    for i in range(videos):
        t0 = time.perf_counter()
        v = synthesize(i, seconds=seconds, seed=seed, size=size)
        t1 = time.perf_counter()
        rec, win, near, steps = video_records(v)
        t_synth, t_measure = t_synth + t1 - t0, t_measure + time.perf_counter() - t1
        records += rec
        windows.append(win.astype(np.float32))
        near_steps.append(steps[near])
        all_steps.append(steps[1:])
        if progress and ((i + 1) % 10 == 0 or i + 1 == videos):
            print(f"  {i + 1}/{videos} videos, {len(records)} contacts, {t_synth + t_measure:.0f} s",
                  file=sys.stderr, flush=True)
    return {"records": records, "windows": np.concatenate(windows), "near_steps": np.concatenate(near_steps),
            "all_steps": np.concatenate(all_steps), "synth_s": t_synth, "measure_s": t_measure}


# ---------------------------------------------------------------------------------------------- features


def one_hot(values, classes) -> np.ndarray:
    """[N, len(classes)] float one-hot of ``values`` over ``classes``."""
    values = np.asarray(values)
    return (values[:, None] == np.asarray(classes)[None, :]).astype(np.float64)


def design(records: list[dict], *, parts: tuple[str, ...], classes: list[str]) -> np.ndarray:
    """Feature matrix [N, D] of the named parts: ``speed`` (log(1 + px/frame) just before and approach),
    ``material`` (one-hot), ``material_code`` (class index, for trees), ``action`` (1 = scratch), ``size``
    (log factor), ``drag`` (log(1 + px)), ``true_speed`` (log ``Contact.speed``), ``colour`` (base RGB)."""
    cols = []
    for p in parts:
        if p == "speed":
            cols.append(np.log1p(np.array([[r["speed_px"], r["approach_px"]] for r in records])))
        elif p == "material":
            cols.append(one_hot([r["material"] for r in records], classes))
        elif p == "material_code":
            cols.append(np.array([[classes.index(r["material"])] for r in records], np.float64))
        elif p == "action":
            cols.append(np.array([[r["action"] == "scratch"] for r in records], np.float64))
        elif p == "size":
            cols.append(np.log(np.array([[r["size"]] for r in records])))
        elif p == "drag":
            cols.append(np.log1p(np.array([[r["drag_px"]] for r in records])))
        elif p == "true_speed":
            cols.append(np.log(np.array([[r["true_speed"]] for r in records])))
        elif p == "colour":
            cols.append(np.array([r["colour"] for r in records], np.float64))
        else:
            raise ValueError(f"unknown feature part {p!r}")
    return np.nan_to_num(np.concatenate(cols, axis=1))


# ---------------------------------------------------------------------------------------------- models


def _regressor(kind: str, categorical: tuple[int, ...] = ()):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "ridge":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    # Shallow and slow: deeper or faster ensembles overfit ~1800 contacts (R^2 of (c) 0.34 instead of 0.40).
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_depth=3, min_samples_leaf=40,
                                         categorical_features=list(categorical) or None, random_state=0)


def cv_predict(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, model: str = "ridge", folds: int = 5,
               categorical: tuple[int, ...] = ()) -> np.ndarray:
    """Out-of-fold predictions [N] of ``y`` [N] from ``x`` [N, D], folds grouped by ``groups`` (video).

    ``model``: ``"ridge"`` (standardised features, alpha 1) or ``"hgb"`` (a small gradient-boosted tree
    ensemble, which can fit interactions such as material x speed; ``categorical``: columns holding class
    indices).
    """
    from sklearn.model_selection import GroupKFold

    pred = np.empty(len(y))
    for tr, te in GroupKFold(n_splits=folds).split(x, y, groups):
        pred[te] = _regressor(model, categorical).fit(x[tr], y[tr]).predict(x[te])
    return pred


def r2(pred: np.ndarray, y: np.ndarray) -> float:
    """Pooled R^2 ``1 - SS_res / SS_tot`` of out-of-fold predictions (negative when worse than the mean)."""
    return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def residual_split(resid: np.ndarray, y: np.ndarray, *, video: np.ndarray, region: np.ndarray) -> dict:
    """Nested split of the residual sum of squares, as fractions of the total variance of ``y``.

    ``per_video``: between the video means (recorder gain; for one-region videos also the object);
    ``per_region``: between region means within a video (per-object level, detune, damping);
    ``per_hit``: within a region (per-hit gain and everything else). The three add up to ``1 - R^2``
    (up to the residuals' mean). ``*_sd``: the standard deviation of each part in the target's units.
    """
    tot = np.sum((y - y.mean()) ** 2)
    key = np.char.add(np.char.add(video.astype(str), "/"), region.astype(str))
    vm, rm = np.empty_like(resid), np.empty_like(resid)
    for v in np.unique(video):
        vm[video == v] = resid[video == v].mean()
    for k in np.unique(key):
        rm[key == k] = resid[key == k].mean()
    parts = {"per_video": (vm - resid.mean()) ** 2, "per_region": (rm - vm) ** 2, "per_hit": (resid - rm) ** 2}
    out = {k: float(v.sum() / tot) for k, v in parts.items()}
    out |= {f"{k}_sd": float(np.sqrt(v.mean())) for k, v in parts.items()}
    return out


def regression_report(records: list[dict], *, folds: int, classes: list[str]) -> dict:
    """R^2 of log loudness and centroid from each feature set (see the module docstring), with ridge
    regression on one-hot and log features (the generator's laws are products of powers, so additive in
    logs); for (c) also gradient boosting (``c_hgb``), the Pearson r of the out-of-fold predictions and the
    residual split."""
    groups = np.array([r["video"] for r in records])
    region = np.array([r["region"] for r in records])
    sets = {
        "a_speed": ("speed",),
        "b_material": ("material",),
        "c_visible": ("material", "speed", "action", "size", "drag"),
        "c_without_speed": ("material", "action", "size", "drag"),
        "d_plus_true_speed": ("material", "speed", "action", "size", "drag", "true_speed"),
    }
    targets = {"log_loudness": np.log(np.array([r["loudness"] for r in records])),
               "centroid": np.array([r["centroid"] for r in records])}
    out = {}
    for name, y in targets.items():
        res = {"mean": float(y.mean()), "sd": float(y.std())}
        for key, parts in sets.items():
            x = design(records, parts=parts, classes=classes)
            pred = cv_predict(x, y, groups, folds=folds)
            res[key] = r2(pred, y)
            if key == "c_visible":
                res["c_r"] = float(np.corrcoef(pred, y)[0, 1])
                res["c_residual"] = residual_split(y - pred, y, video=groups, region=region)
                xt = design(records, parts=("material_code", "speed", "action", "size", "drag"), classes=classes)
                res["c_hgb"] = r2(cv_predict(xt, y, groups, model="hgb", folds=folds, categorical=(0,)), y)
        out[name] = res
    return out


def material_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, folds: int, pca: int | None,
                      c: float) -> float:
    """Class-averaged accuracy (mean per-class recall) of a class-balanced linear SVM on standardised ``x``
    [N, D] (PCA to ``pca`` components first if given), out of fold over video-grouped folds."""
    from sklearn.decomposition import PCA
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    pred = np.empty(len(y), dtype=object)
    for tr, te in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(np.unique(y[tr])) < 2:  # a tiny set: one class to learn from
            pred[te] = y[tr][0]
            continue
        steps = [StandardScaler()]
        if pca:
            steps.append(PCA(n_components=min(pca, len(tr) - 1, x.shape[1]), random_state=0))
        steps.append(LinearSVC(C=c, class_weight="balanced", max_iter=5000, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # liblinear convergence chatter
            pred[te] = make_pipeline(*steps).fit(x[tr], y[tr]).predict(x[te])
    return float(np.mean([np.mean(pred[y == k] == k) for k in np.unique(y)]))


def material_report(records: list[dict], windows: np.ndarray, *, folds: int, classes: list[str]) -> dict:
    """Material accuracy from the sound window, from base colour + size, and from colour alone."""
    y = np.array([r["material"] for r in records])
    groups = np.array([r["video"] for r in records])
    n = len(windows)
    return {
        "sound": material_accuracy(windows.reshape(n, -1), y, groups, folds=folds, pca=64, c=0.01),
        "colour_size": material_accuracy(design(records, parts=("colour", "size"), classes=classes), y, groups,
                                         folds=folds, pca=None, c=1.0),
        "colour": material_accuracy(design(records, parts=("colour",), classes=classes), y, groups,
                                    folds=folds, pca=None, c=1.0),
        "chance": 1.0 / len(np.unique(y)), "classes": int(len(np.unique(y))),
    }


def speed_report(records: list[dict], near_steps: np.ndarray, all_steps: np.ndarray, *,
                 moving_px: float = MOVING_PX) -> dict:
    """Tip image speed (px/frame, 256-px frame): quantiles near contacts, over moving frames, at contacts;
    and the correlation of log visible speed with log ``Contact.speed`` per action."""
    moving = all_steps[all_steps > moving_px]

    def q(a: np.ndarray) -> dict:
        a = a[np.isfinite(a)]
        return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "frames": int(a.size)}

    out = {"near_contact": q(near_steps), "moving": q(moving), "moving_fraction": float(moving.size / all_steps.size),
           "before_contact": q(np.array([r["speed_px"] for r in records])),
           "approach": q(np.array([r["approach_px"] for r in records]))}
    for action in ("hit", "scratch"):
        rs = [r for r in records if r["action"] == action and r["speed_px"] > 0]
        if len(rs) > 2:
            a = np.log([r["speed_px"] for r in rs])
            b = np.log([r["true_speed"] for r in rs])
            out[f"r_log_speed_{action}"] = float(np.corrcoef(a, b)[0, 1])
    return out


# ---------------------------------------------------------------------------------------------- report


def generator_fingerprint() -> str:
    """First 12 hex digits of the SHA-1 of the generator's sources (``vis/synth/*.py``, by name), so that
    results can be matched to the generator version they measured (it changes often)."""
    import hashlib
    from pathlib import Path

    import vis.synth

    h = hashlib.sha1()
    for f in sorted(Path(vis.synth.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def audit(*, videos: int = 60, seconds: float = 20.0, seed: int = 1, folds: int = 5, progress: bool = True) -> dict:
    """Run the whole audit; returns the JSON-able result (see the module docstring)."""
    start, cpu = time.perf_counter(), time.process_time()
    data = collect(videos=videos, seconds=seconds, seed=seed, progress=progress)
    records = data["records"]
    classes = sorted({r["material"] for r in records})
    folds = min(folds, videos)
    t = time.perf_counter()
    reg = regression_report(records, folds=folds, classes=classes)
    mat = material_report(records, data["windows"], folds=folds, classes=classes)
    spd = speed_report(records, data["near_steps"], data["all_steps"])
    fit_s = time.perf_counter() - t
    loud, cent = reg["log_loudness"], reg["centroid"]
    comparison = {
        "loudness": {"paper_r2": PAPER["loudness_r"] ** 2, "visible_r2": loud["c_visible"],
                     "visible_r": loud["c_r"], "at_least": loud["c_visible"] >= PAPER["loudness_r"] ** 2},
        "centroid": {"paper_r2": PAPER["centroid_r"] ** 2, "visible_r2": cent["c_visible"],
                     "visible_r": cent["c_r"], "at_least": cent["c_visible"] >= PAPER["centroid_r"] ** 2},
        "material": {"paper_acc": PAPER["material_acc"], "appearance_acc": mat["colour_size"],
                     "at_least": mat["colour_size"] >= PAPER["material_acc"]},
    }
    counts = {a: sum(r["action"] == a for r in records) for a in ("hit", "scratch")}
    return {"config": {"videos": videos, "seconds": seconds, "seed": seed, "folds": folds, "size": [456, 256],
                       "generator": generator_fingerprint()},
            "contacts": len(records), "actions": counts, "regression": reg, "material": mat, "speed": spd,
            "vs_paper": comparison, "real_speed": REAL_SPEED,
            "time_s": {"synthesize": round(data["synth_s"], 1), "measure": round(data["measure_s"], 1),
                       "fit": round(fit_s, 1), "total": round(time.perf_counter() - start, 1),
                       "cpu": round(time.process_time() - cpu, 1)}}


def format_report(res: dict) -> str:
    """The printed table of an :func:`audit` result."""
    c, reg, mat, spd = res["config"], res["regression"], res["material"], res["speed"]
    lines = [f"visibility audit: {c['videos']} videos x {c['seconds']:g} s, seed {c['seed']}, "
             f"{res['contacts']} contacts ({res['actions']['hit']} hits, {res['actions']['scratch']} scratches), "
             f"{c['folds']}-fold CV grouped by video",
             "",
             "1. R^2 (out of fold, ridge)               log loudness   centroid",
             ]
    rows = [("(a) visible speed only", "a_speed"), ("(b) material only", "b_material"),
            ("(c) material+speed+action+size", "c_visible"), ("    same, gradient boosting", "c_hgb"),
            ("    (c) without the visible speed", "c_without_speed"),
            ("(d) (c) + true Contact.speed", "d_plus_true_speed")]
    lo, ce = reg["log_loudness"], reg["centroid"]
    for label, key in rows:
        lines.append(f"   {label:38s} {lo[key]:12.3f} {ce[key]:10.3f}")
    lines.append(f"   {'Pearson r of (c)':38s} {lo['c_r']:12.3f} {ce['c_r']:10.3f}")
    lines.append(f"   {'hidden (1 - R^2 of c)':38s} {1 - lo['c_visible']:12.3f} {1 - ce['c_visible']:10.3f}")
    for part, label in (("per_video", "per-video (gain)"), ("per_region", "per-region (object)"),
                        ("per_hit", "per-hit")):
        lr, cr = lo["c_residual"], ce["c_residual"]
        lines.append(f"     {label:36s} {lr[part]:6.3f} sd {lr[part + '_sd']:5.3f} "
                     f"{cr[part]:6.3f} sd {cr[part + '_sd']:4.2f}")
    lines.append(f"   {'target sd':38s} {lo['sd']:12.3f} {ce['sd']:10.3f}")
    lines += ["",
              f"2. material accuracy (class-averaged, {mat['classes']} classes, chance {100 * mat['chance']:.1f} %)",
              f"   sound window (45x42, PCA 64, linear SVM)   {100 * mat['sound']:5.1f} %",
              f"   appearance: base colour + size             {100 * mat['colour_size']:5.1f} %",
              f"   appearance: base colour only               {100 * mat['colour']:5.1f} %",
              "",
              "3. tip image speed, px/frame at 256 px high     median    p90   frames",
              ]
    for label, key in (("within 0.3 s before contact", "near_contact"), ("all frames where the tip moves", "moving"),
                       ("step just before contact", "before_contact"), ("approach (max of last 4 steps)", "approach")):
        q = spd[key]
        lines.append(f"   {label:45s} {q['median']:6.1f} {q['p90']:6.1f} {q['frames']:8d}")
    lines.append(f"   {'real Greatest Hits near contact':45s} {REAL_SPEED['median']:6.1f} {REAL_SPEED['p90']:6.1f}")
    lines.append(f"   r(log tip speed, log Contact.speed): hits {spd.get('r_log_speed_hit', float('nan')):.3f}, "
                 f"scratches {spd.get('r_log_speed_scratch', float('nan')):.3f}; tip moving in "
                 f"{100 * spd['moving_fraction']:.0f} % of frames")
    vp = res["vs_paper"]
    yes = {True: "yes", False: "NO"}
    lines += ["",
              "4. does visible ground truth explain at least the paper's real-data results?",
              f"   loudness  R^2 {vp['loudness']['visible_r2']:.3f} (r {vp['loudness']['visible_r']:.2f}) vs paper "
              f"r 0.44 (R^2 {vp['loudness']['paper_r2']:.3f}): {yes[vp['loudness']['at_least']]}",
              f"   centroid  R^2 {vp['centroid']['visible_r2']:.3f} (r {vp['centroid']['visible_r']:.2f}) vs paper "
              f"r 0.47 (R^2 {vp['centroid']['paper_r2']:.3f}): {yes[vp['centroid']['at_least']]}",
              f"   material  appearance {100 * vp['material']['appearance_acc']:.1f} % vs paper 22.7 %: "
              f"{yes[vp['material']['at_least']]}",
              "",
              f"time: synthesize {res['time_s']['synthesize']} s, measure {res['time_s']['measure']} s, "
              f"fit {res['time_s']['fit']} s; total {res['time_s']['total']} s wall, {res['time_s']['cpu']} s CPU"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Command line: run the audit, print the table, write ``--json``. Returns the result."""
    import importlib

    from threadpoolctl import threadpool_limits

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=60, help="number of synthetic videos (at least 2)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each video (s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds, grouped by video")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = p.parse_args(argv)
    if a.videos < 2 or a.folds < 2:
        p.error("--videos and --folds must be at least 2")
    # One core: BLAS and OpenMP (gradient boosting) single-threaded. The limit only reaches libraries
    # already loaded, so load scikit-learn's first (two OpenMP threads on a busy 2-core machine made each
    # boosting fit ~30x slower).
    for name in ("sklearn.ensemble", "sklearn.linear_model", "sklearn.svm", "sklearn.decomposition"):
        importlib.import_module(name)
    with threadpool_limits(limits=1):
        res = audit(videos=a.videos, seconds=a.seconds, seed=a.seed, folds=a.folds, progress=not a.quiet)
    print(format_report(res))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        print(f"wrote {a.json}")
    return res


if __name__ == "__main__":
    main()
