"""Every training option in one place: :class:`TrainConfig` here, :class:`vis.model.ModelConfig` for the network.

``vis train`` builds its config with :func:`load_config`: the defaults, then a shipped preset
(``presets/paper.toml``: the paper's exact recipe), then the user's ``--config run.toml`` (``[model]`` and
``[train]`` tables), then command-line flags. :func:`to_toml` writes it back (``RUN/config.toml``).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import tomli_w

from vis.errors import VisError
from vis.features import CENTRED_FRAMES
from vis.model import DEFAULT_SIZE, ModelConfig, config_dict


@dataclass
class TrainConfig:
    """Training options. Every default is here; ``--config run.toml`` overrides them (``[train]``)."""

    task: str = "centred"  # centred: 15-frame windows around onsets (Sec. 6.1)
    centres: str = "onsets"  # window centres: detected audio onsets (the paper) or annotated "events"
    # Centred task: on 180 x 10 s vis synth videos val sq err falls until epoch ~24 of 30 (loudness comes late:
    # 12 epochs left held-out loudness r at 0.07, 30 reached 0.40); an epoch of the default network costs ~10 s
    # here. Detection (set by load_config unless given): 3; its val loss is lowest at epoch 2 on 38 videos, and
    # model.pt keeps the best epoch either way.
    epochs: int = 30
    batch_size: int = 16  # global batch (split across processes under torchrun)
    # "squared": r^2 summed over rows; "robust": the paper's log(eps + r^2) (Eq. 4), under which a constant quiet
    # floor scores better than the average impact shape on held-out windows (-139.3 against -125.9 on 8 vis
    # synth videos) although its squared error is worse (8.98 against 5.36), so training drifts to the floor.
    loss: str = "squared"
    lr: float = 1e-3  # Adam (the paper used SGD in Caffe)
    # "cosine": the rate falls from lr to 0 along a half cosine over the run (steadier late epochs, where a
    # constant rate made validation sq err jump by 10 % from one epoch to the next); "constant": the paper's.
    schedule: str = "cosine"
    clip: float = 5.0  # gradient norm clipping ("we clip large gradients", Sec. 5.1)
    augment: bool = True  # random translation and mirroring (from-scratch training, Sec. 5.1)
    shift: int = 6  # pixels of random translation
    seed: int = 0
    log_every: int = 10  # steps
    save_every: int = 50  # steps between resumable state saves (and every epoch end)
    threads: int = 0  # torch threads per process (0: torch's default)
    # Detection windows: frames per window and frames between window starts. The paper's 2 s every 0.5 s
    # (60 / 15) cost 2.5x more time per epoch here (Viterbi and LSTM over 180 rows) than 0.5 s every 0.1 s
    # (15 / 3), for a model no better: held-out AP 0.44 against 0.41 after one epoch from the same CNN.
    det_frames: int = 15
    det_stride: int = 3
    # A run folder or model.pt whose CNN (backbone) weights start this run, e.g. a centred-task model to
    # start a detection model from a network that already sees the stick; "" starts from scratch.
    init: str = ""
    # The exemplar bank also remembers what each training impact looked like (vis.exemplars: the predicted
    # sound's spectrum leans on the look-alike impacts', and the example search weighs looks). On held-out d60
    # it took the material read from the predicted sound from 12.8 % to 28.4 % at the same sq err. The paper
    # has no such memory: its preset turns it off.
    visual_memory: bool = True


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


DETECTION_EPOCHS = 3  # the detection task's default epochs (TrainConfig.epochs is the centred task's)
PRESETS_DIR = Path(__file__).parent / "presets"  # shipped configurations, e.g. presets/paper.toml


def presets() -> list[str]:
    """Names of the shipped presets (``vis train --preset NAME``)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_config(path: str | os.PathLike | None, *, preset: str | None = None, **overrides) -> RunConfig:
    """Defaults, then a shipped ``preset``, then ``path`` (TOML with ``[model]`` and ``[train]`` tables), then
    non-None overrides.

    Override keys are field names of either table (e.g. ``backbone="small"``, ``epochs=3``).
    """
    data: dict = {"model": {}, "train": {}}
    if preset is not None and preset not in presets():
        raise VisError(f"unknown preset {preset!r} (one of {', '.join(presets())})")
    sources = ([PRESETS_DIR / f"{preset}.toml"] if preset else []) + ([Path(path)] if path is not None else [])
    for p in sources:
        try:
            loaded = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise VisError(f"{p}: no such config file") from None
        except tomllib.TOMLDecodeError as e:
            raise VisError(f"{p}: not valid TOML ({e})") from None
        for table, values in loaded.items():
            if table not in data or not isinstance(values, dict):
                raise VisError(f"{p}: unknown table [{table}] (expected [model] and [train])")
            data[table].update(values)
    path = path or (PRESETS_DIR / f"{preset}.toml" if preset else None)  # named in errors below
    mfields = {f.name for f in fields(ModelConfig)}
    tfields = {f.name for f in fields(TrainConfig)}
    for key, value in overrides.items():
        if value is None:
            continue
        data["model" if key in mfields else "train" if key in tfields else _bad(key)][key] = value
    for table, known in (("model", mfields), ("train", tfields)):
        for key in data[table]:
            if key not in known:
                raise VisError(f"{path}: unknown option {key!r} in [{table}]")
    for table, cls in (("model", ModelConfig), ("train", TrainConfig)):
        defaults = {f.name: f.default for f in fields(cls)}
        for key, value in data[table].items():  # types as the defaults have them (TOML gives ints for floats)
            _check_type(table, key, value, defaults[key])
    if "image_size" not in data["model"]:
        data["model"]["image_size"] = DEFAULT_SIZE[data["model"].get("backbone", ModelConfig.backbone)]
    if data["train"].get("task", "centred") == "detection":
        data["train"].setdefault("epochs", DETECTION_EPOCHS)
        data["model"].setdefault("layers", 3)
        data["model"].setdefault("lag", 2)
    else:  # the centred window's rows: the network starts from the average training window
        data["model"].setdefault("prior_rows", CENTRED_FRAMES * ModelConfig.k)
    try:
        model = ModelConfig(**data["model"])
    except TypeError as e:
        raise VisError(f"bad [model] option ({e})") from None
    train_cfg = TrainConfig(**data["train"])
    checks = [(train_cfg.task in ("centred", "detection"), "task must be 'centred' or 'detection'"),
              (train_cfg.centres in ("onsets", "events"), "centres must be 'onsets' or 'events'"),
              (train_cfg.loss in ("robust", "squared"), "loss must be 'robust' or 'squared'"),
              (train_cfg.epochs >= 1 and train_cfg.batch_size >= 1, "epochs and batch_size must be >= 1"),
              (train_cfg.lr > 0 and train_cfg.clip > 0, "lr and clip must be > 0"),
              (train_cfg.schedule in ("cosine", "constant"), "schedule must be 'cosine' or 'constant'"),
              (train_cfg.shift >= 0 and train_cfg.threads >= 0, "shift and threads must be >= 0"),
              (train_cfg.det_frames >= 2 and train_cfg.det_stride >= 1, "det_frames must be >= 2, det_stride >= 1"),
              (train_cfg.log_every >= 1 and train_cfg.save_every >= 1, "log_every and save_every must be >= 1")]
    for ok, message in checks:
        if not ok:
            raise VisError(message)
    return RunConfig(model, train_cfg)


def _check_type(table: str, key: str, value, default) -> None:
    """Refuse a config value whose type is not that of the option's default (an int is a float, a list of
    whole numbers a tuple of them, a string the path of ``weights``); floats must be finite."""
    def whole(x) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = whole(value), "a whole number"
    elif isinstance(default, float):
        ok, kind = (whole(value) or isinstance(value, float)) and math.isfinite(value), "a finite number"
    elif isinstance(default, tuple):
        ok, kind = isinstance(value, (list, tuple)) and all(whole(x) for x in value), "a list of whole numbers"
    else:  # str, or None for an optional path
        ok, kind = isinstance(value, str), "a string"
    if not ok:
        raise VisError(f"{table} option {key} must be {kind}, got {value!r}")


# Options added after checkpoints were first written, with the value that older checkpoints and run states used.
LEGACY_MODEL_DEFAULTS = {"motion_channels": False, "widths": [32, 64, 96, 128, 128], "prior_rows": 0,
                         "motion_stats": False, "colour_trunk": False}
LEGACY_TRAIN_DEFAULTS = {"loss": "robust", "schedule": "constant", "det_frames": 60, "det_stride": 15}


def resumable_toml(cfg: RunConfig) -> str:
    """The configuration a resumed run must share (run-time options such as threads may change)."""
    c = RunConfig(cfg.model, TrainConfig(**{**asdict(cfg.train), "threads": 0, "log_every": 1, "save_every": 1}))
    return to_toml(c)


def normalised_toml(saved: str) -> str:
    """A saved config string with the options it lacks filled in as they were before each option existed
    (``LEGACY_*_DEFAULTS``), so runs saved by an older version resume."""
    try:
        data = tomllib.loads(saved)
        model = {**LEGACY_MODEL_DEFAULTS, **data.get("model", {})}
        train_ = {**LEGACY_TRAIN_DEFAULTS, **data.get("train", {})}
        return resumable_toml(RunConfig(ModelConfig(**model), TrainConfig(**train_)))
    except (tomllib.TOMLDecodeError, TypeError, VisError):
        return saved


def _bad(key: str):
    raise VisError(f"unknown option {key!r}")


def to_toml(cfg: RunConfig) -> str:
    """The config as TOML text (``config.toml``), readable by :func:`load_config`."""
    def plain(obj: dict) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in obj.items() if v is not None}

    return tomli_w.dumps({"model": plain(config_dict(cfg.model)), "train": plain(asdict(cfg.train))})
