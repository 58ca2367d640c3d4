"""`vis train` from start to end: the task's windows, training, the exemplar bank and the detection model's
calibration."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vis.config import RunConfig
from vis.data.cache import VideoFeatures, default_cache_dir, env_on_grid, frames_sidecar, load, prepare
from vis.data.framestore import frames_path
from vis.data.io import atomic_output, read_audio
from vis.data.windows import Windows, centred_windows
from vis.errors import VisError
from vis.eval.methods import predict_windows
from vis.eval.metrics import best_threshold, sq_err
from vis.model.checkpoint import load_model
from vis.model.device import distributed, leave_distributed, reduce_device, training_device
from vis.model.inputs import prepare_trunk, trunk_key
from vis.model.network import VisNet
from vis.model.run import RunDir, TrainSummary
from vis.sound.exemplars import ExemplarBank, build_bank, centre_frame_features, visual_spectrum
from vis.sound.longform import Colouring
from vis.sound.peaks import detect_peaks
from vis.sound.windowed import predict_cached
from vis.train import initial_network, train
from vis.train_onsets import train_onsets


def make_windows(videos: list[VideoFeatures], cfg: RunConfig) -> Windows:
    """The task's training windows (:meth:`vis.config.Task.windows`)."""
    return cfg.task.windows(videos, cfg)

VAL_FRACTION = 0.15  # of the train split held out for validation when a dataset has no val split


def needs_motion(cfg: RunConfig) -> bool:
    """Whether a run of ``cfg`` reads the optical-flow motion features (its network's or its impact detector)."""
    flow_net = cfg.model.motion_stats and cfg.model.motion == "flow"
    return flow_net or impact_detector(cfg)


def impact_detector(cfg: RunConfig) -> bool:
    """Whether the run also trains the impact detector (the default recipe's centred task)."""
    return not cfg.task.whole_videos and cfg.train.onsets


def add_impact_detector(run: RunDir, cfg: RunConfig, train_videos: list[VideoFeatures],
                        val_videos: list[VideoFeatures], *, progress: bool = True) -> dict:
    """Train the impact detector (:func:`vis.train_onsets.train_onsets`) and store it in the run's ``model.pt``
    (key ``onsets``), where ``vis predict`` finds it."""
    det, summary = train_onsets(train_videos, val_videos, epochs=cfg.train.onset_epochs,
                                ensemble=cfg.train.onset_ensemble, seed=cfg.train.seed,
                                folds=cfg.train.onset_folds, refit=cfg.train.onset_refit,
                                low_rate=cfg.train.onset_low_rate,
                                progress=progress)
    run.update_checkpoint(onsets=det.to_dict())
    return summary


def train_and_validation(ds) -> tuple[list[str], list[str]]:
    """The videos to train on and to validate on (checkpoint choice, the detection threshold).

    The dataset's ``val`` split when it has one; otherwise every video of the train split whose place in
    a fixed order (sorted by a hash of its id) falls in the last VAL_FRACTION. Never the test split: the
    numbers reported on it must come from videos that chose nothing.
    """
    train_ids = list(ds.split("train"))
    if not train_ids:
        raise VisError(f"{ds.root}: the train split is empty")
    if ds.splits.get("val"):
        return train_ids, list(ds.splits["val"])
    if len(train_ids) < 2:
        raise VisError(f"{ds.root}: need a val split or at least 2 training videos (1 to validate on)")
    order = sorted(train_ids, key=lambda v: hashlib.sha1(v.encode()).hexdigest())
    n_val = max(1, round(VAL_FRACTION * len(train_ids)))
    held = set(order[-n_val:])
    return [v for v in train_ids if v not in held], [v for v in train_ids if v in held]


def run(ds, out: str | os.PathLike, cfg: RunConfig, *, cache: str | os.PathLike | None = None,
        resume: bool = False, workers: int = 1, progress: bool = True, device: str = "auto") -> TrainSummary:
    """Everything ``vis train`` does: prepare the cache, build the windows, train (on ``device``), write the
    exemplar bank, fit what the task fits after the network, and write ``summary.json``.

    Trains and validates on the videos of :func:`train_and_validation`, from :func:`vis.train.initial_network`
    of ``cfg`` (random weights, or another run's with ``init`` / ``start``).
    """
    started = time.time()
    rank, _ = distributed(training_device(device))
    cache = Path(cache) if cache else default_cache_dir(ds.root)
    train_ids, val_ids = train_and_validation(ds)
    net = initial_network(cfg)  # first: another run's weights that do not fit stop it before any work
    # a frozen trunk names and fills the trunk cache, its features computed on the device (.to moves net itself)
    trunk = net.to(training_device(device)) if cfg.model.frozen else None
    prepare_inputs(ds, cache, cfg, train_ids + val_ids, trunk=trunk, workers=workers, progress=progress)
    train_videos, val_videos = (_ready_videos(ds, cache, cfg, ids, trunk=trunk) for ids in (train_ids, val_ids))
    tr = make_windows(train_videos, cfg)
    summary = train(tr, make_windows(val_videos, cfg), cfg, out, resume=resume, progress=progress, device=device,
                    net=net)
    leave_distributed()  # the rest is the first process's alone
    summary.cache = str(cache)
    summary.validation_split = "val" if ds.splits.get("val") else f"{len(val_videos)} of the train split"
    if rank == 0:
        folder = RunDir(out)
        # the exemplar bank always holds the centred training impacts (paper Sec. 6.1)
        write_bank(ds, centred_windows(train_videos) if cfg.task.whole_videos else tr, folder.bank,
                   visual=cfg.train.visual_memory, reuse=cfg.train.init or None)
        if cfg.task.whole_videos:
            summary.after = calibrate_detection(folder, val_videos, train_videos)
        else:
            summary.after = fit_spectrum_mix(folder, make_windows(val_videos, cfg))
        if impact_detector(cfg):
            summary.after.update(add_impact_detector(folder, cfg, train_videos, val_videos, progress=progress))
        summary.wall_seconds = time.time() - started  # this invocation: inputs, training, bank, calibration
        folder.write_summary(summary)
    return summary


def prepare_inputs(ds, cache: Path, cfg: RunConfig, ids: list[str], *, trunk: VisNet | None = None, workers: int = 1,
                   progress: bool = True) -> None:
    """The feature cache of ``ids`` (:func:`vis.data.cache.prepare`), and with a frozen ``trunk`` its features,
    made by the first process; under DDP the others wait for it and stop if it failed."""
    rank, world = distributed()
    failed = torch.zeros(1, device=reduce_device())
    if rank != 0:
        if world > 1:
            torch.distributed.all_reduce(failed)
            if failed.item():
                raise VisError("feature preparation failed on the first process (see its error)")
        return
    try:
        prepare(ds, cache, size=_size(cfg), ids=ids, store=cfg.train.frame_store, workers=workers,
                motion=needs_motion(cfg), progress=progress)
        if trunk is not None:  # the paper's precomputed features: the fixed trunk runs once per frame
            for v in tqdm([v for v in ids if v in ds.files], desc="trunk features", unit="video",
                          disable=not progress):
                prepare_trunk(trunk, cache, v, store=cfg.train.frame_store)
    except VisError:
        failed += 1
        raise
    finally:
        if world > 1:
            torch.distributed.all_reduce(failed)  # tell the other processes whether to go on


def _size(cfg: RunConfig) -> tuple[int, int]:
    w, h = cfg.model.image_size
    return int(w), int(h)


def _ready_videos(ds, cache: Path, cfg: RunConfig, ids: list[str], *, trunk: VisNet | None = None
                  ) -> list[VideoFeatures]:
    """The prepared features of ``ids``; --skip-broken may have dropped videos that could not be read: those
    whose files are not all there are left out."""
    size, store = _size(cfg), cfg.train.frame_store
    key = trunk_key(trunk) if trunk is not None else None
    ready = [v for v in ids if (cache / f"{v}.sound.json").is_file()
             and frames_sidecar(frames_path(cache, v, size, store)).is_file() and v not in ds.skipped]
    return [load(cache, v, size, trunk=key, store=store) for v in ready]


# The detection threshold maximises validation F1 smoothed over +-3 dB of prominence: F1 is often flat over a
# broad range, and the plain argmax sits at the edge where it falls (docs/design.md).
THRESHOLD_SMOOTH_DB = 3.0
# The least gap between predicted peaks is fitted with it, from these (s): a prediction hedges with a second
# bump 0.25-0.4 s after an impact, and real impacts are rarely that close (docs/design.md).
PEAK_GAPS_S = (0.25, 0.3, 0.35, 0.4)


def calibrate_detection(run: RunDir, silent_videos: list[VideoFeatures], train_videos: list[VideoFeatures]
                        ) -> dict:
    """Fit the detection model's peak threshold and colouring transform (paper A1.1); store them in the run's
    ``model.pt``.

    The network runs on ``silent_videos`` (their frames only; the paper uses the test videos, we use the
    validation videos). The threshold (``peak_prominence_db``) and the least gap between peaks
    (``peak_min_gap_s``, one of PEAK_GAPS_S) are those that give the best F1 of the predicted peaks
    against those videos' audio onsets. The colouring takes predicted statistics
    at the peaks that pass it, and real statistics from the envelopes of the training videos at their
    onsets. Returns ``colouring_peaks`` (the predicted peaks used), ``peak_prominence_db``,
    ``peak_min_gap_s`` and ``peak_val_f1``.
    """
    model = load_model(run.path)
    preds = [predict_cached(model.net, model.pca, vf) for vf in silent_videos]
    threshold, f1, gap = float("inf"), 0.0, PEAK_GAPS_S[0]
    by_gap = {g: [detect_peaks(pred, prominence_db=0.0, min_gap=g) for pred in preds] for g in PEAK_GAPS_S}
    for g, peaks in by_gap.items():  # the first (shortest) of equally good gaps
        th, f = best_threshold([t for t, _ in peaks], [s for _, s in peaks], [vf.onsets for vf in silent_videos],
                               smooth=THRESHOLD_SMOOTH_DB)
        if f > f1:
            threshold, f1, gap = th, f, g
    fitted: dict = {}
    if math.isfinite(threshold):
        fitted.update(peak_prominence_db=threshold, peak_min_gap_s=gap, peak_val_f1=f1)
    found = by_gap[gap]
    pred_rows = [env_on_grid(pred.env, pred.times, t[s >= threshold]) for pred, (t, s) in zip(preds, found)]
    real_rows = [env_on_grid(vf.env, vf.times, vf.onsets) for vf in train_videos]
    pred_rows_all = np.concatenate(pred_rows) if pred_rows else np.zeros((0, 42))
    try:
        fitted["colouring"] = Colouring.fit(pred_rows_all, np.concatenate(real_rows)).to_dict()
    except VisError:
        pred_rows_all = np.zeros((0, 42))  # too few peaks: example-based synthesis runs without colouring
    run.update_checkpoint(**fitted)
    return {"colouring_peaks": len(pred_rows_all), "peak_prominence_db": fitted.get("peak_prominence_db"),
            "peak_min_gap_s": fitted.get("peak_min_gap_s"), "peak_val_f1": fitted.get("peak_val_f1")}


# The network's share in the spectral shape of a new impact's sound, the rest from the training impacts that
# look alike (vis.sound.exemplars.visual_spectrum): the one of MIX_GRID with the lowest sq err on the
# validation impacts. The share that suits differs by data: validation picked 0.7 and 0.8 on two vis synth
# seeds and 0.2 on the real footage, where 0.3 (SPECTRUM_MIX) had been fixed on d60 (docs/design.md).
MIX_GRID = tuple(i / 10 for i in range(11))


def fit_spectrum_mix(run: RunDir, val: Windows) -> dict:
    """Fit the exemplar bank's ``spectrum_mix`` on the centred validation windows ``val`` with the run's network
    (``model.pt``) and store it in the bank. Returns ``spectrum_mix``, its ``spectrum_mix_val_sq_err`` and that
    of every share (``spectrum_mix_val_sq_errs``), or nothing when the bank has no visual memory or there is no
    validation impact."""
    bank = ExemplarBank.load(run.bank)
    if not bank.has_memory or len(val) == 0:
        return {}
    model = load_model(run.path)
    pred = predict_windows(model.net, model.pca, val)
    prior = bank.visual_prior(centre_frame_features(val))
    errs = {mix: sq_err(visual_spectrum(pred, prior, mix=mix), val.targets) for mix in MIX_GRID}
    bank.spectrum_mix = min(errs, key=lambda mix: errs[mix])  # the first of equal ones
    bank.save(run.bank)
    return {"spectrum_mix": bank.spectrum_mix, "spectrum_mix_val_sq_err": round(errs[bank.spectrum_mix], 5),
            "spectrum_mix_val_sq_errs": {f"{mix:.1f}": round(e, 5) for mix, e in errs.items()}}


def write_bank(ds, windows: Windows, path: Path, *, visual: bool = True,
               reuse: str | os.PathLike | None = None) -> None:
    """The exemplar bank of the training impacts (their envelopes and waveforms, and with ``visual`` what
    they looked like), saved beside the model. A bank in the run ``reuse`` (the ``--init`` run) that was
    built from the same dataset, impacts and memory setting is copied instead of built again."""
    key = [str(Path(ds.root).resolve()), f"visual={visual}"]
    key += [f"{windows.videos[v].vid}:{start}" for v, start in windows.index]
    source = hashlib.sha1("\n".join(key).encode()).hexdigest()
    other = RunDir.of(reuse).bank if reuse else None
    if other is not None and other.is_file():
        try:
            if ExemplarBank.source_of(other) == source:
                with atomic_output(path) as tmp:
                    shutil.copyfile(other, tmp)
                return
        except VisError:
            pass  # not a bank: build one
    vids = {vf.vid for vf in windows.videos}
    audio = {v: read_audio(ds.audio_path(v), mono=True) for v in vids}
    labels = {v: ds.events(v) for v in vids}
    build_bank(windows, audio, labels=labels, visual=visual, source=source).save(path)
