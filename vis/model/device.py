"""Where the network runs: device names (``--device``), mixed precision, and the processes of a DDP run
(``torchrun --nproc_per_node N``)."""

from __future__ import annotations

import itertools
import os

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


def training_device(name: str = "auto") -> torch.device:
    """``--device`` for training: under torchrun on CUDA, each process takes the GPU of its ``LOCAL_RANK``."""
    dev = resolve_device(name)
    if dev.type == "cuda" and "LOCAL_RANK" in os.environ and dev.index is None:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def distributed(device: torch.device | None = None) -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed under torchrun: nccl for CUDA (one device per
    ``LOCAL_RANK``), gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device is not None and device.type == "cuda" else "gloo")
    return (torch.distributed.get_rank() if world > 1 else 0), world


def leave_distributed() -> None:
    """End this process's part in a DDP run (all processes call it, once no collective follows): they wait for one
    another, then each closes its process group. The first process may go on alone; the others exit. (A process
    that exited with its gloo group still open while the first worked on was once seen to abort.)"""
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def reduce_device() -> torch.device:
    """Where tensors to all-reduce live: CUDA under nccl, else the CPU."""
    nccl = torch.distributed.is_initialized() and torch.distributed.get_backend() == "nccl"
    return torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")


def all_processes_sum(values: list[float]) -> list[float]:
    """``values`` summed over the processes of a DDP run (float64); themselves in a single process."""
    if not torch.distributed.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=reduce_device())
    torch.distributed.all_reduce(t)
    return t.tolist()


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true in any process of a DDP run (in this one, in a single process)."""
    if not torch.distributed.is_initialized():
        return flag
    t = torch.tensor([float(flag)], device=reduce_device())
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)
