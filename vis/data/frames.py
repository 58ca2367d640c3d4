"""What the network is shown of the frames: spacetime images, colour images and motion statistics (paper Sec. 5.1)."""

from __future__ import annotations

import torch

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
