"""Where the network runs: device names (``--device``) and mixed precision."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from vis.errors import VisError

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
