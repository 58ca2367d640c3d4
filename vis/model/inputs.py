"""From windows to the network's output: which inputs a network takes, the ones computed once because
nothing in them is learnt, a frozen trunk's outputs cached once per frame (the paper's precomputed pool5
features), the augmentation of a batch, and the forward pass on a batch.

Every path that runs a network over training or validation windows goes through :func:`forward`; whole
videos go through :func:`vis.sound.windowed.predict_stream`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vis.config import ModelConfig
from vis.data.cache import FEATURES_VERSION, file_stamp, is_fresh, save_json, stored_frames
from vis.data.frames import MOTION_STATS, colour_images, motion_statistics, spacetime_images
from vis.data.framestore import open_frames
from vis.data.io import atomic_output
from vis.data.windows import Windows
from vis.errors import VisError
from vis.model.backbones import IMAGENET_FEATURES
from vis.model.device import model_device
from vis.model.network import flow_inputs


def input_kind(windows: Windows, cfg: ModelConfig) -> str:
    """What a batch of ``windows`` carries for a network of ``cfg`` (:meth:`vis.data.windows.Windows.inputs`):
    fixed inputs where they were computed for this kind of network, cached trunk outputs for a frozen trunk
    whose cache is loaded, else frames."""
    if windows.fixed is not None and cfg.backbone == "none" and cfg.spacetime == windows.fixed["spacetime"]:
        return "fixed"
    if cfg.frozen and windows.videos and all(v.trunk is not None for v in windows.videos):
        return "trunk"
    return "frames"


def input_options(windows: Windows, cfg: ModelConfig) -> dict:
    """The options of :meth:`vis.data.windows.Windows.inputs` (and of the training loader's
    :class:`vis.data.windows.StepBatches`) for a network of ``cfg``: ``kind``, ``spacetime``, ``with_frames``
    (a frozen trunk's cache lacks what the colour trunk and the motion statistics read from the frames)."""
    return {"kind": input_kind(windows, cfg), "spacetime": cfg.spacetime,
            "with_frames": cfg.colour_trunk or cfg.motion_stats}


def batch_inputs(windows: Windows, rows: np.ndarray, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """The inputs of ``rows`` for a network of ``cfg`` (the training loader's items hold the same)."""
    return windows.inputs(rows, **input_options(windows, cfg))


def fix_inputs(windows: Windows, net, *, batch: int = 64, progress: bool = False) -> None:
    """Compute a backbone-"none" network's inputs once (``windows.fixed``); :func:`forward` then uses them.

    They are what every training step would compute again from the same frames: the motion statistics
    (per video) and the colour trunk's features of each window's first frame or, for the colour-only
    ablation, of every frame. Augmentation does not change the motion statistics (the same shift and
    mirroring for a whole window); the colour features are of the unaugmented frames.
    """
    if net.cfg.backbone != "none":
        raise VisError("only a backbone 'none' network has fixed inputs")
    spacetime = net.cfg.spacetime
    dev = model_device(net)
    per_video = []
    with torch.no_grad():
        for vf in tqdm(windows.videos, desc="motion statistics" if spacetime else "colour features",
                       unit="video", disable=not progress):
            f = vf.frames
            n = len(f)
            if spacetime and net.cfg.motion == "flow":  # measured once by `vis prepare` at the video's own rate
                x = flow_inputs(vf.motion_rows(np.arange(n))).numpy()
            elif spacetime:  # frames 0 and n-1 have no neighbour: no window uses them
                x = np.zeros((n, MOTION_STATS), np.float32)
                for a in range(1, n - 1, 256):
                    b = min(a + 256, n - 1)
                    x[a:b] = motion_statistics(torch.from_numpy(np.array(f[a - 1 : b + 1]))[None])[0].numpy()
            else:
                x = np.concatenate([net.first_trunk(colour_images(torch.from_numpy(np.array(f[a : a + batch]))
                                                                  .to(dev))).float().cpu().numpy().astype(np.float16)
                                    for a in range(0, n, batch)])
            per_video.append(x)
        first = []
        if spacetime:
            for i in tqdm(range(0, len(windows), batch), desc="colour features", unit="batch", disable=not progress):
                x = np.stack([np.asarray(windows.videos[v].frames[s]) for v, s in windows.index[i : i + batch]])
                first.append(net.first_trunk(colour_images(torch.from_numpy(x).to(dev))).float().cpu().numpy())
        else:
            first = [np.stack([per_video[v][s] for v, s in windows.index]).astype(np.float32)] if len(windows) else []
    windows.fixed = {"spacetime": spacetime, "per_video": per_video,
                     "first": np.concatenate(first) if first else np.zeros((0, IMAGENET_FEATURES), np.float32)}


def draw_augmentation(rng: np.random.Generator, n: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Random mirroring and translation for ``n`` windows: ``flips`` bool [n] and ``offsets`` int [n, 2]
    (dx, dy) in ``[-shift, shift]`` pixels (zeros when ``shift`` is 0)."""
    flips = rng.random(n) < 0.5
    offsets = rng.integers(-shift, shift + 1, size=(n, 2)) if shift > 0 else np.zeros((n, 2), np.int64)
    return flips, offsets


def augment(frames: torch.Tensor, flips: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Mirror and translate whole windows at once, on the frames' device.

    frames : [B, T, H, W, C] (any dtype); flips : bool [B]; offsets : int [B, 2] (dx, dy). Window b is
    mirrored left-right where ``flips[b]``, then shifted by its offset with edge padding: output pixel
    (y, x) is input pixel (clamp(y + dy), clamp(x + dx)), the same for every frame of the window.
    """
    b, _, h, w, _ = frames.shape
    x = torch.where(flips.view(b, 1, 1, 1, 1), frames.flip(3), frames)
    if not bool(offsets.any()):
        return x
    ys = (torch.arange(h, device=x.device)[None] + offsets[:, 1:2]).clamp(0, h - 1)  # [B, H]
    xs = (torch.arange(w, device=x.device)[None] + offsets[:, 0:1]).clamp(0, w - 1)  # [B, W]
    bi = torch.arange(b, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1, 4)[bi, ys[:, :, None], xs[:, None, :]].permute(0, 3, 1, 2, 4)


def forward(model, batch: dict, cfg: ModelConfig, *, flips=None, offsets=None) -> torch.Tensor:
    """The network's output [B, N*k, pca_dim] for a batch of inputs (arrays or tensors, from
    :func:`batch_inputs` or a loader of :class:`vis.data.windows.StepBatches`; with ``frames``, a flow
    network also takes ``motion``, the frames' optical-flow features), moved to the network's device.

    ``flips`` / ``offsets`` (:func:`draw_augmentation`) augment batches of frames; the other kinds carry
    fixed or cached features of unaugmented frames. ``model`` may be DDP-wrapped.
    """
    dev = model_device(model)
    x = {k: torch.as_tensor(batch[k]).to(dev, non_blocking=True) for k in ("frames", "seq", "first") if k in batch}
    net = getattr(model, "module", model)
    if "seq" in x and cfg.backbone == "none":  # fixed inputs
        if cfg.spacetime:  # phi(F_t) is nothing: the motion statistics go beside phi(I_1)
            return model(trunk_features=(x["first"].new_zeros(len(x["first"]), x["seq"].shape[1], 0), x["first"],
                                         x["seq"]))
        return model(trunk_features=(x["seq"], x["first"], None))
    if "seq" in x:  # cached trunk outputs
        f_first, stats = x["first"], None
        if "frames" in x:  # what the trunk cache does not hold comes from the frames (cheap)
            if cfg.colour_trunk:
                f_first = net.first_trunk(colour_images(x["frames"][:, 1]))
            stats = motion_statistics(x["frames"]) if cfg.motion_stats else None
        return model(trunk_features=(x["seq"], f_first, stats))
    frames = x["frames"]
    if flips is not None:
        frames = augment(frames, torch.as_tensor(flips, device=dev), torch.as_tensor(offsets, device=dev))
    if "motion" in batch and cfg.motion_stats and cfg.motion == "flow":  # [B, N, MOTION_FEATURES]
        return model(frames, motion=torch.as_tensor(np.asarray(batch["motion"], np.float32)).to(dev))
    return model(frames)


def predict(model, windows: Windows, rows: np.ndarray, cfg: ModelConfig) -> torch.Tensor:
    """The network's output for some windows, unaugmented: :func:`forward` of :func:`batch_inputs`."""
    return forward(model, batch_inputs(windows, rows, cfg), cfg)


def trunk_key(net) -> str:
    """Names a frozen trunk's cache files: backbone, frame size and a hash of the trunk's weights."""
    h = hashlib.sha1()
    for name, tensor in net.backbone.trunk.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    cfg = net.cfg
    layout = "-motion" if cfg.motion_channels else ""  # the spacetime images' channel layout
    return f"{cfg.backbone}-{h.hexdigest()[:10]}-{cfg.image_size[0]}x{cfg.image_size[1]}{layout}"


def prepare_trunk(net, cache: Path, vid: str, *, chunk: int = 64, store: str | None = None) -> bool:
    """Cache a frozen trunk's outputs for every frame of ``vid``: ``ID.trunk-KEY.npz`` (spacetime, colour).

    The paper precomputes AlexNet's pool5 features once and fine-tunes only the layers above (A1.3).
    """
    size = tuple(net.cfg.image_size)
    fpath = stored_frames(cache, vid, size, store)
    key = trunk_key(net)
    out = cache / f"{vid}.trunk-{key}.npz"
    meta = {"version": FEATURES_VERSION, "frames": file_stamp(fpath), "key": key}
    sidecar = out.with_suffix(".json")
    if out.is_file() and is_fresh(sidecar, meta):
        return False
    frames = open_frames(fpath)
    n = len(frames)
    st, col = [], []
    net.eval()
    with torch.no_grad():
        for a in range(0, n, chunk):
            idx = np.clip(np.arange(a - 1, min(a + chunk, n) + 1), 0, n - 1)
            x = torch.from_numpy(np.asarray(frames[idx]))[None].to(model_device(net))
            st.append(net.trunk(spacetime_images(x, motion=net.cfg.motion_channels)[0]).float().cpu().numpy()
                      .astype(np.float16))
            col.append(net.trunk(colour_images(x[0, 1:-1])).float().cpu().numpy().astype(np.float16))
    with atomic_output(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, spacetime=np.concatenate(st), colour=np.concatenate(col))
    save_json(sidecar, meta)
    return True
