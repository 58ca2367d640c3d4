"""Every training option in one place: :class:`TrainConfig` and, for the network, :class:`ModelConfig`.

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
from typing import TYPE_CHECKING

import tomli_w

from vis.audio import SOUND_METHODS as SOUND_METHODS  # how predicted features become sound
from vis.data.cache import CENTRED_FRAMES
from vis.data.paths import read_text
from vis.errors import VisError

if TYPE_CHECKING:
    from vis.data.cache import VideoFeatures
    from vis.data.windows import Windows

BACKBONES = ("small", "alexnet", "efficientnet-lite0", "none")

DEFAULT_SIZE = {"small": (128, 72), "alexnet": (288, 160), "efficientnet-lite0": (256, 144), "none": (128, 72)}


@dataclass
class ModelConfig:
    """Everything that defines a network; saved inside every checkpoint."""

    backbone: str = "none"  # see the module docstring; the paper's is "alexnet" (--preset paper)
    frozen: bool = False  # fixed pretrained trunk (features cacheable), trainable head
    weights: str | None = None  # alexnet: local ImageNet state_dict file (torchvision layout)
    image_size: tuple[int, int] = (128, 72)  # (width, height) of the frames given to the CNN
    feat_dim: int = 256  # phi's output size (AlexNet: fc7 = 4096)
    # small backbone: channels of its five conv layers; narrow early layers make a CPU step faster (docs/design.md)
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)
    hidden: int = 256  # LSTM hidden units (paper A1.3)
    layers: int = 2  # 2 for the centred task, 3 for detection (paper A1.3)
    k: int = 3  # sound rows per frame (paper Sec. 5.1)
    pca_dim: int = 10  # predicted PCA coefficients (paper Sec. 5.1)
    bands: int = 42
    spacetime: bool = True  # False: colour-only ablation ("no spacetime")
    # Spacetime image as (frame t, t - (t-1), (t+1) - t) instead of (t-1, t, t+1): a fixed invertible linear map
    # of the same three frames that hands a scratch network the motion outright (spacetime_images). False: the paper.
    motion_channels: bool = True
    rnn: bool = True  # False: hidden state zeroed between steps ("no RNN")
    lag: int = 0  # frames the output lags the input (detection: 2, paper A1.1)
    # Rows of a fixed per-row prior added to the output: the centred task's average training window (in PCA
    # space), so the network starts from the no-video "average impact shape" and learns only what the frames
    # change; 0 is none (the paper; detection, whose windows have no fixed impact row). `vis train` sets it
    # to the centred window's 45 rows unless told otherwise.
    prior_rows: int = 0
    # Per-frame motion statistics beside phi(F_t) (vis.data.frames.motion_statistics): fixed functions of the
    # same three frames that give the LSTM the stick's speed from the first step (docs/design.md). False is the paper.
    motion_stats: bool = True
    # Which motion numbers go beside phi(F_t) when motion_stats: "flow", the optical-flow features of
    # vis.data.motion, measured at the video's own frame rate with the camera's motion removed (27 per frame);
    # "frames", the 14 statistics of the spacetime image's frame differences (vis.data.frames). Flow is what
    # works on real footage (see docs/real-footage.md); it feeds the fixed-input network (backbone "none"),
    # so a network with a CNN backbone uses "frames".
    motion: str = "flow"
    # phi(I_1) from a frozen ImageNet EfficientNet-Lite0 (the material's look), unit length, through dropout and a
    # small fc (colour_dim): a wider head learns the training scenes (docs/design.md). False is the paper.
    colour_trunk: bool = True
    colour_dim: int = 16
    colour_dropout: float = 0.5
    pretrained: bool = False  # ImageNet weights (set from backbone / weights; kept when a checkpoint reloads)

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise VisError(f"unknown backbone {self.backbone!r} (one of {', '.join(BACKBONES)})")
        self.image_size = tuple(int(x) for x in self.image_size)
        self.widths = tuple(int(x) for x in self.widths)
        if len(self.widths) != 5 or min(self.widths) < 1:
            raise VisError(f"widths must be 5 channel counts >= 1, got {list(self.widths)}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise VisError(f"image_size must be [width, height] of at least 8 pixels, got {list(self.image_size)}")
        if self.backbone == "alexnet" and self.feat_dim != 4096:
            self.feat_dim = 4096
        self.pretrained = self.pretrained or self.backbone == "efficientnet-lite0" or self.weights is not None
        for name, low in (("feat_dim", 1), ("colour_dim", 1), ("hidden", 1), ("layers", 1), ("pca_dim", 1), ("lag", 0),
                          ("prior_rows", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise VisError(f"model option {name} must be an integer >= {low}, got {value!r}")
        if self.motion_stats and not self.spacetime:
            self.motion_stats = False  # the colour-only ablation sees no motion at all
        if self.motion not in ("flow", "frames"):
            raise VisError(f"motion must be 'flow' or 'frames', got {self.motion!r}")
        if self.backbone != "none":
            self.motion = "frames"  # a CNN backbone sees frames: its motion numbers come from them
        if self.backbone == "none" and (not self.colour_trunk or self.frozen):
            raise VisError("backbone 'none' needs colour_trunk and has no trunk to freeze")
        if not 0 <= self.colour_dropout < 1:
            raise VisError(f"colour_dropout must be in [0, 1), got {self.colour_dropout!r}")
        if self.k != 3 or self.bands != 42:
            raise VisError("k = 3 rows per frame and 42 bands are fixed by the sound features")


def config_dict(cfg: ModelConfig) -> dict:
    d = asdict(cfg)
    d["image_size"] = list(cfg.image_size)
    d["widths"] = list(cfg.widths)
    return d


@dataclass
class TrainConfig:
    """Training options. Every default is here; ``--config run.toml`` overrides them (``[train]``)."""

    task: str = "centred"  # centred: 15-frame windows around onsets (Sec. 6.1)
    centres: str = "onsets"  # window centres: detected audio onsets (the paper) or annotated "events"
    # Centred task: loudness is learnt late, so fewer epochs leave it flat (docs/design.md). Detection: 3
    # (DETECTION_EPOCHS, set by load_config unless given). model.pt keeps the best epoch either way.
    epochs: int = 30
    batch_size: int = 16  # global batch (split across processes under torchrun)
    # "squared": r^2 summed over rows; "robust": the paper's log(eps + r^2) (Eq. 4), under which training drifts
    # to a constant quiet floor (docs/design.md).
    loss: str = "squared"
    lr: float = 1e-3  # Adam (the paper used SGD in Caffe)
    # "cosine": the rate falls from lr to 0 along a half cosine over the run, for steadier late epochs
    # (docs/design.md); "constant": the paper's.
    schedule: str = "cosine"
    clip: float = 5.0  # gradient norm clipping ("we clip large gradients", Sec. 5.1)
    augment: bool = True  # random translation and mirroring (from-scratch training, Sec. 5.1)
    shift: int = 6  # pixels of random translation
    seed: int = 0
    log_every: int = 10  # steps
    save_every: int = 50  # steps between resumable state saves (and every epoch end)
    threads: int = 0  # torch threads per process (0: torch's default)
    # DataLoader worker processes that read (and decode) the next batches of frames while a step runs (0: read
    # in the training process). Batches depend only on the step, so the number changes nothing but speed. A
    # network that learns nothing from pixels (backbone "none") trains on fixed inputs held in memory, read in
    # the training process, where workers would only add copies (docs/design.md).
    workers: int = 2
    # Frame store of the cache (vis.data.framestore): "raw" uint8 (exact), or "jpeg" (decoded by the loader's
    # workers; a tenth of the disk, for the real dataset at AlexNet's size: docs/results.md).
    frame_store: str = "raw"
    # Detection windows: frames per window and frames between window starts; the paper's 2 s every 0.5 s
    # (60 / 15) cost more time per epoch for a model no better (docs/design.md).
    det_frames: int = 15
    det_stride: int = 3
    # A run folder or model.pt whose CNN (backbone) weights start this run (e.g. a centred-task model to start
    # a detection model), or ``start``: its whole network but the prior (e.g. one trained on `vis synth` data to
    # start one on real footage; its [model] options must be these). "": random weights.
    init: str = ""
    start: str = ""
    # The exemplar bank also remembers what each training impact looked like (vis.sound.exemplars), so that the
    # predicted sound follows the material seen (docs/design.md). The paper has none: its preset turns it off.
    visual_memory: bool = True
    # The centred task's run also trains the impact detector (vis.model.onset) on the motion features (and with
    # onset_low_rate one on the videos' half-rate copies, for video under 20 fps); `vis predict` places impacts at
    # its peaks, the centred model says what each sounds like. False: the impacts are a detection run's (the paper).
    onsets: bool = True
    onset_low_rate: bool = True
    onset_epochs: int = 10  # passes over the training videos (chosen on validation videos, docs/real-footage.md)
    onset_ensemble: int = 3  # detectors from different seeds, averaged
    # Its threshold and least gap are fitted on out-of-fold probabilities of training + validation videos cut
    # into onset_folds, and it is then trained on all of them (vis.train_onsets). 0: trained on the training
    # videos, fitted on the validation videos (and with onset_refit trained again on both).
    onset_folds: int = 4
    onset_refit: bool = False


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def task(self) -> Task:
        """What the run's task (``train.task``) changes: :class:`Task`."""
        return task_named(self.train.task)


DETECTION_EPOCHS = 3  # the detection task's default epochs (TrainConfig.epochs is the centred task's)


@dataclass(frozen=True)
class Task:
    """What differs between the centred and the detection task (paper Sec. 6.1): the one place that answers.

    ``aligned_loss``: the training loss aligns the prediction in time first (Eq. 5); ``selects_on``: the
    validation number whose lowest epoch ``model.pt`` keeps (:meth:`score`; see :mod:`vis.train`);
    ``whole_videos``: the model predicts whole videos, so training fits its peak picking on the validation
    videos and ``vis evaluate`` scores its detection; ``model_defaults`` / ``train_defaults``: the options
    :func:`load_config` sets for the task unless given.
    """

    name: str
    aligned_loss: bool
    selects_on: str  # "val_sq_err" or "val_loss"
    whole_videos: bool
    model_defaults: dict = field(default_factory=dict)
    train_defaults: dict = field(default_factory=dict)

    def score(self, val_loss: float, val_sq_err: float) -> float:
        """The number model.pt's epoch is chosen on (lowest wins)."""
        return val_sq_err if self.selects_on == "val_sq_err" else val_loss

    def windows(self, videos: list[VideoFeatures], cfg: RunConfig) -> Windows:
        """The task's training windows (:mod:`vis.data.windows`; imported here: it brings torch)."""
        from vis.data.windows import centred_windows, detection_windows

        if self.whole_videos:
            return detection_windows(videos, lag=cfg.model.lag, n_frames=cfg.train.det_frames,
                                     stride=cfg.train.det_stride)
        return centred_windows(videos, centres=cfg.train.centres)


# the centred network starts from the average training window (its rows: ModelConfig.prior_rows)
CENTRED = Task("centred", aligned_loss=False, selects_on="val_sq_err", whole_videos=False,
               model_defaults={"prior_rows": CENTRED_FRAMES * ModelConfig.k})
DETECTION = Task("detection", aligned_loss=True, selects_on="val_loss", whole_videos=True,
                 model_defaults={"layers": 3, "lag": 2}, train_defaults={"epochs": DETECTION_EPOCHS})
TASKS = {t.name: t for t in (CENTRED, DETECTION)}


def task_named(name: str) -> Task:
    """The :class:`Task` called ``name`` (``centred`` or ``detection``)."""
    if name not in TASKS:
        raise VisError(f"task must be {' or '.join(repr(t) for t in TASKS)}, got {name!r}")
    return TASKS[name]
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
            loaded = tomllib.loads(read_text(p, what="config file"))
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
    task = TASKS.get(data["train"].get("task", TrainConfig.task))  # an unknown one is refused below
    for table, defaults in ((t, getattr(task, f"{t}_defaults", {})) for t in ("model", "train")):
        for key, value in defaults.items():
            data[table].setdefault(key, value)
    try:
        model = ModelConfig(**data["model"])
    except TypeError as e:
        raise VisError(f"bad [model] option ({e})") from None
    train_cfg = TrainConfig(**data["train"])
    checks = [(train_cfg.task in TASKS, "task must be 'centred' or 'detection'"),
              (train_cfg.centres in ("onsets", "events"), "centres must be 'onsets' or 'events'"),
              (train_cfg.loss in ("robust", "squared"), "loss must be 'robust' or 'squared'"),
              (train_cfg.epochs >= 1 and train_cfg.batch_size >= 1, "epochs and batch_size must be >= 1"),
              (train_cfg.lr > 0 and train_cfg.clip > 0, "lr and clip must be > 0"),
              (train_cfg.schedule in ("cosine", "constant"), "schedule must be 'cosine' or 'constant'"),
              (train_cfg.frame_store in ("raw", "jpeg"), "frame_store must be 'raw' or 'jpeg'"),
              (min(train_cfg.shift, train_cfg.threads, train_cfg.workers) >= 0,
               "shift, threads and workers must be >= 0"),
              (train_cfg.det_frames >= 2 and train_cfg.det_stride >= 1, "det_frames must be >= 2, det_stride >= 1"),
              (train_cfg.onset_epochs >= 1 and train_cfg.onset_ensemble >= 1,
               "onset_epochs and onset_ensemble must be >= 1"),
              (train_cfg.onset_folds == 0 or train_cfg.onset_folds >= 2, "onset_folds must be 0 or >= 2"),
              (train_cfg.log_every >= 1 and train_cfg.save_every >= 1, "log_every and save_every must be >= 1"),
              (not (train_cfg.init and train_cfg.start), "give init (the CNN) or start (the whole network), not both")]
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
                         "motion_stats": False, "colour_trunk": False, "motion": "frames"}
LEGACY_TRAIN_DEFAULTS = {"loss": "robust", "schedule": "constant", "det_frames": 60, "det_stride": 15,
                         "onsets": False}  # onset_low_rate: left out, so older runs resume and train it too


def resumable_toml(cfg: RunConfig) -> str:
    """The configuration a resumed run must share (run-time options such as threads may change)."""
    c = RunConfig(cfg.model, TrainConfig(**{**asdict(cfg.train), "threads": 0, "workers": 0, "log_every": 1,
                                                              "save_every": 1}))
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
