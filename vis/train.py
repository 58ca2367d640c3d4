"""Training: ``vis train DATA --out RUN``, centred or detection task (paper Sec. 6.1), resumable, DDP-ready.

A run folder holds:

- ``model.pt``: the checkpoint another command loads with no flags: network weights, its
  :class:`vis.config.ModelConfig`, the sound PCA (mean and components of the square-rooted envelopes),
  and the training config; written atomically at the end of each epoch that lowers the validation sq_err
  (:func:`vis.eval.metrics.sq_err` of the decoded prediction: the robust loss can be won by a prediction
  constant in time, the squared error cannot). The detection task keeps selecting on its validation loss,
  which aligns the prediction in time first (Eq. 5): without that alignment sq_err charges a peak
  predicted a frame off twice and favours a flat prediction (on the bounce data of
  ``test_detection_needs_spacetime_when_only_motion_shows_contact`` it kept epoch 1 of 20, with AP 0);
- ``state.pt``: optimizer, step and epoch, to resume an interrupted run (``--resume``);
- ``log.jsonl``: one JSON object a line, ``{"step", "epoch", "train_loss"}`` every ``log_every`` steps
  and after every epoch ``{"step", "epoch", "epoch_train_loss", "val_loss", "val_sq_err",
  "baseline_mean_loss", "baseline_mean_sq_err", "baseline_shape_sq_err"}``: the mean training loss of the
  epoch's steps, the validation loss and sq_err, and those of the no-video baselines on the validation
  windows (the mean training sound, PCA code 0 at every row; and the mean training window, row by row);
- ``curves.png``: training and validation loss per epoch, and validation sq_err per epoch against the two
  no-video baselines (drawn from ``log.jsonl`` at the end, and after an epoch at most once a minute);
- ``config.toml``: the configuration used;
- ``bank.npz``: the exemplar bank of the centred training impacts (:mod:`vis.sound.exemplars`);
- ``summary.json``: the numbers printed at the end (written last).

Randomness is a function of ``(seed, epoch)`` (batch order) and ``(seed, step)`` (augmentation, dropout),
so a resumed run ends where an uninterrupted one would, whatever the number of loader workers
(:class:`vis.data.windows.StepBatches`). Under ``torchrun --nproc_per_node N`` each process takes every
N-th window of the same global batch and DistributedDataParallel averages the gradients (nccl on CUDA, one
GPU per ``LOCAL_RANK``; gloo on the CPU); the result matches one process at the same global batch within
noise: batch-norm statistics and the augmentation draws are per process.

This module is the loop and DDP; :mod:`vis.pipeline` builds the windows and writes the bank, and
:mod:`vis.objective` holds the loss and the validation.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vis.config import RunConfig, normalised_toml, resumable_toml, to_toml
from vis.data.io import remove_stale_temporaries
from vis.data.windows import StepBatches, Windows, step_loader
from vis.errors import Interrupted, VisError
from vis.model.checkpoint import SoundPCA, checkpoint, init_backbone, save_atomic
from vis.model.device import autocast, resolve_device
from vis.model.inputs import draw_augmentation, fix_inputs, forward, input_options
from vis.model.network import VisNet
from vis.objective import evaluate_windows, learning_rate, no_video_sq_err, window_loss
from vis.plots import save_training_curves_png

CURVES_EVERY_S = 60.0  # curves.png is refreshed after an epoch at most this often (a plot takes ~0.5 s), and at the end


# ---------------------------------------------------------------------------------------------- loop


def distributed(device: torch.device | None = None) -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed under torchrun: nccl for CUDA (one device per
    ``LOCAL_RANK``), gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device is not None and device.type == "cuda" else "gloo")
    return (torch.distributed.get_rank() if world > 1 else 0), world


def reduce_device() -> torch.device:
    """Where tensors to all-reduce live: CUDA under nccl, else the CPU."""
    nccl = torch.distributed.is_initialized() and torch.distributed.get_backend() == "nccl"
    return torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")


def training_device(name: str = "auto") -> torch.device:
    """``--device`` for training: under torchrun on CUDA, each process takes the GPU of its ``LOCAL_RANK``."""
    dev = resolve_device(name)
    if dev.type == "cuda" and "LOCAL_RANK" in os.environ and dev.index is None:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def initial_network(cfg: RunConfig) -> VisNet:
    """The network training starts from: weights drawn with ``cfg.train.seed``, and the CNN of the run
    ``cfg.train.init`` when one is given (a frozen trunk's cached features are named after it)."""
    torch.manual_seed(cfg.train.seed)
    net = VisNet(cfg.model)
    if cfg.train.init:
        init_backbone(net, cfg.train.init)
    return net


def train(train_windows: Windows, val_windows: Windows, cfg: RunConfig, out: str | os.PathLike, *,
          resume: bool = False, progress: bool = True, max_steps: int | None = None, device: str = "auto",
          amp: bool | None = None, net: VisNet | None = None) -> dict:
    """Train on ``train_windows``, validating each epoch on ``val_windows``; write the run folder ``out``.

    ``net``: the network to start from, :func:`initial_network` of ``cfg`` (built here when not given).

    ``max_steps`` stops after that many steps in this call (saving resumable state), e.g. to time-box.
    ``device``: see :func:`vis.model.device.resolve_device` (``auto``: CUDA when present); ``amp``: bf16 autocast
    of the forward pass (None: on CUDA only).

    Returns a summary: ``steps``, ``epochs``, ``train_loss``, ``val_sq_err`` and ``val_loss`` of the epoch
    in ``model.pt`` (``best_epoch``: lowest val sq_err, for detection lowest val loss), ``last_val_loss``,
    ``last_val_sq_err``, ``baseline_mean_loss``, ``baseline_mean_sq_err``, ``baseline_shape_sq_err``,
    ``seconds``, ``run``.
    """
    dev = training_device(device)
    rank, world = distributed(dev)
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    out = Path(out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)  # a save cut short by kill -9 left its temporary file
    if len(train_windows) < tc.batch_size:
        raise VisError(f"only {len(train_windows)} training windows (need at least batch_size = {tc.batch_size})")
    if tc.batch_size < world:
        raise VisError(f"batch_size {tc.batch_size} is smaller than the {world} processes: each needs a window")
    state_path, model_path, log_path = out / "state.pt", out / "model.pt", out / "log.jsonl"
    best = (math.inf, 0, math.nan, math.nan)  # (selection score, epoch, val loss, val sq_err) of model.pt's weights
    epoch_loss = (0.0, 0)  # (sum, count) of this process's training losses in the current epoch

    pca = SoundPCA.fit(train_windows.targets.reshape(-1, 42), cfg.model.pca_dim)
    net = net if net is not None else initial_network(cfg)
    if cfg.model.prior_rows:
        if train_windows.targets.shape[1] != cfg.model.prior_rows:
            raise VisError(f"prior_rows = {cfg.model.prior_rows}, but the training windows have "
                           f"{train_windows.targets.shape[1]} rows")
        net.prior.copy_(torch.from_numpy(pca.encode(train_windows.targets).mean(0)))
    net.to(dev)
    if cfg.model.backbone == "none":  # nothing learnt from pixels: the network's inputs are computed once
        for w in (train_windows, val_windows):
            fix_inputs(w, net, progress=progress and rank == 0)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=tc.lr)
    step, t_spent = 0, 0.0
    if resume:
        if not state_path.is_file():
            raise VisError(f"{state_path}: nothing to resume")
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if normalised_toml(st["config"]) != resumable_toml(cfg):
            raise VisError(f"{state_path}: the run was started with another configuration (see {out / 'config.toml'})")
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        pca = SoundPCA(st["pca_mean"], st["pca_components"])
        step, t_spent, best = st["step"], st["seconds"], tuple(st.get("best", (math.inf, 0)))
        if len(best) == 2:  # saved before sq_err existed: (validation loss, epoch); a centred run's next epoch wins
            best = (best[0] if tc.task == "detection" else math.inf, best[1], best[0], math.nan)
        epoch_loss = tuple(st.get("epoch_loss", (0.0, 0)))
        if rank == 0 and log_path.is_file():  # drop log lines written after the saved state
            kept = [ln for ln in log_path.read_text().splitlines() if json.loads(ln)["step"] <= step]
            log_path.write_text("".join(ln + "\n" for ln in kept))
    elif rank == 0:  # a fresh run: nothing of an earlier run in this folder may be mistaken for this one's
        for name in ("model.pt", "state.pt", "bank.npz", "summary.json", "curves.png"):
            (out / name).unlink(missing_ok=True)
        log_path.write_text("")
    if rank == 0:
        (out / "config.toml").write_text(to_toml(cfg))
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
    else:
        model = net

    batches = StepBatches(train_windows, batch_size=tc.batch_size, seed=tc.seed, rank=rank, world=world,
                          **input_options(train_windows, cfg.model))
    steps_per_epoch = batches.steps_per_epoch
    total_steps = steps_per_epoch * tc.epochs
    targets_code = pca.encode(train_windows.targets)  # [M, N*K, 10]
    baseline = math.nan  # the loss of always predicting the mean training sound (PCA code 0)
    if len(val_windows):
        val_env = torch.from_numpy(val_windows.targets)
        val_code = torch.from_numpy(pca.encode(val_windows.targets))
        baseline = float(window_loss(torch.zeros_like(val_code), val_code, val_env, tc.task, tc.loss).item())
    base_sq = no_video_sq_err(train_windows, val_windows, pca)  # once: they do not change while training

    def log(entry: dict) -> None:
        if rank == 0:
            with open(log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def save_state() -> None:
        if rank == 0:
            save_atomic({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                   "config": resumable_toml(cfg), "seconds": t_spent + time.time() - t0, "pca_mean": pca.mean,
                   "pca_components": pca.components, "best": best, "epoch_loss": epoch_loss}, state_path)

    plotted = [-1, time.time()]  # (step, time) of the last curves.png

    def curves() -> None:
        if rank == 0:
            entries = [json.loads(ln) for ln in log_path.read_text().splitlines() if ln.strip()]
            save_training_curves_png(out / "curves.png", entries, kept=best[1] or None)
        plotted[:] = [step, time.time()]

    bar = tqdm(total=total_steps, initial=step, desc="train", unit="step", disable=not progress or rank != 0)
    t0 = time.time()
    net.train()
    running, val_loss, val_sq, first_step = [], math.nan, math.nan, step
    waited, stepped, seen = 0.0, 0.0, 0  # seconds waiting for batches, seconds in steps, windows trained on
    stop = _StopAtStep()  # Ctrl-C / SIGTERM: finish the step, save, then stop (a second one stops at once)
    augmenting = tc.augment and not cfg.model.frozen and batches.kind == "frames"
    # fixed inputs are arrays in memory: read in this process (workers would only add copies between processes)
    workers = tc.workers if batches.kind != "fixed" else 0
    loader = iter(step_loader(batches, range(step, total_steps), workers=workers, pin_memory=dev.type == "cuda"))
    try:
        while step < total_steps:
            if stop.now(world):
                save_state()
                raise KeyboardInterrupt
            if max_steps is not None and step - first_step >= max_steps:
                save_state()
                break
            epoch = step // steps_per_epoch
            t_wait = time.perf_counter()
            batch = next(loader)  # step's batch, read ahead by the loader's workers
            t_step = time.perf_counter()
            waited += t_step - t_wait
            mine = batch["rows"].numpy()
            flips = offsets = None
            if augmenting:  # drawn here from (seed, step): the same whatever the number of workers
                flips, offsets = draw_augmentation(np.random.default_rng([tc.seed, step, rank]), len(mine), tc.shift)
            torch.manual_seed(int(np.random.SeedSequence([tc.seed, step, rank]).generate_state(1)[0]))  # dropout
            with autocast(dev, amp):
                pred = forward(model, batch, cfg.model, flips=flips, offsets=offsets)
            env = batch["targets"].to(dev, non_blocking=True)
            share = float(batch["share"])  # so that DDP's gradient average is the global batch mean
            code = torch.from_numpy(targets_code[mine]).to(dev)
            loss = window_loss(pred.float(), code, env, tc.task, tc.loss) * share
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), tc.clip)
            for group in opt.param_groups:  # a function of the step, so a resumed run follows the same rates
                group["lr"] = learning_rate(tc, step, total_steps)
            opt.step()
            value = loss.item() / share  # this process's own mean loss
            step += 1
            epoch_loss = (epoch_loss[0] + value, epoch_loss[1] + 1)
            running.append(value)
            stepped += time.perf_counter() - t_step
            seen += len(mine)
            bar.update()
            bar.set_postfix(loss=f"{np.mean(running[-20:]):.2f}", val=f"{val_loss:.2f}")
            if step % tc.log_every == 0:
                log({"step": step, "epoch": epoch, "train_loss": float(np.mean(running[-tc.log_every:]))})
            if step % steps_per_epoch == 0:
                val_loss, val_sq = _val(net, val_windows, pca, rank, world, tc.task, tc.loss)
                log({"step": step, "epoch": epoch + 1, "epoch_train_loss": epoch_loss[0] / max(epoch_loss[1], 1),
                     "val_loss": val_loss, "val_sq_err": val_sq, "baseline_mean_loss": baseline,
                     "baseline_mean_sq_err": base_sq["mean"], "baseline_shape_sq_err": base_sq["average_shape"]})
                epoch_loss = (0.0, 0)
                score = val_sq if tc.task == "centred" else val_loss  # see the module docstring
                if not score >= best[0]:  # model.pt keeps the epoch with the lowest score
                    best = (score, epoch + 1, val_loss, val_sq)
                    if rank == 0:
                        save_atomic(checkpoint(net, pca, cfg, {"step": step, "epoch": epoch + 1, "val_loss": val_loss,
                                                         "val_sq_err": val_sq}), model_path)
                save_state()
                if time.time() - plotted[1] >= CURVES_EVERY_S:
                    curves()
            elif step % tc.save_every == 0:
                save_state()
    except KeyboardInterrupt:
        bar.close()
        if stop.requested == 1:  # the state saved is that of the step boundary
            raise Interrupted(f"stopped after step {step} of {total_steps}, state saved; resume with: "
                              f"vis train ... --out {out} --resume") from None
        if not state_path.is_file():  # nothing saved yet: --resume would have nothing to go on from
            raise Interrupted(f"stopped during step {step + 1}, before the first save; start again with the same "
                              "command (without --resume)") from None
        raise Interrupted(f"stopped during step {step + 1}; resume with: vis train ... --out {out} --resume "
                          f"(from the last saved state)") from None
    finally:
        stop.restore()
    bar.close()
    if not model_path.is_file() and rank == 0:
        save_atomic(checkpoint(net, pca, cfg, {"step": step}), model_path)
    if plotted[0] != step:
        curves()
    return {"run": str(out), "steps": step, "epochs": tc.epochs, "train_windows": len(train_windows),
            "val_windows": len(val_windows), "train_loss": float(np.mean(running[-steps_per_epoch:])) if running else
            math.nan, "val_sq_err": best[3] if best[1] else val_sq, "val_loss": best[2] if best[1] else val_loss,
            "best_epoch": best[1], "last_val_loss": val_loss, "last_val_sq_err": val_sq,
            "baseline_mean_loss": baseline, "baseline_mean_sq_err": base_sq["mean"],
            "baseline_shape_sq_err": base_sq["average_shape"], "seconds": t_spent + time.time() - t0,
            # this call's steps: time waiting for the loader, and the steps' own throughput (windows / s)
            "loader_wait_seconds": waited, "step_seconds": stepped,
            "step_windows_per_second": seen / stepped if stepped else math.nan}


class _StopAtStep:
    """While training: SIGINT and SIGTERM ask the loop to stop at the next step boundary (``requested``
    counts them); a second one raises KeyboardInterrupt at once. Only in the main thread; ``restore``
    puts the previous handlers back."""

    def __init__(self):
        self.requested = 0
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def now(self, world: int) -> bool:
        """Whether to stop before the next step; under DDP all processes agree (one signalled is enough)."""
        if world == 1:
            return self.requested > 0
        flag = torch.tensor([float(self.requested > 0)], device=reduce_device())
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        self.requested = max(self.requested, int(flag.item()))
        return flag.item() > 0

    def _handle(self, signum, frame):
        self.requested += 1
        if self.requested > 1:
            raise KeyboardInterrupt

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}


def _val(net: VisNet, windows: Windows, pca: SoundPCA, rank: int, world: int, task: str, loss: str
         ) -> tuple[float, float]:
    """Validation (loss, sq_err); under DDP each process takes every ``world``-th window and the sums are reduced."""
    if world == 1:
        m = evaluate_windows(net, windows, pca, task=task, loss=loss)
        return m["loss"], m["sq_err"]
    fixed = windows.fixed and {**windows.fixed, "first": windows.fixed["first"][rank::world]}
    mine = Windows(windows.videos, windows.index[rank::world], windows.targets[rank::world], windows.n_frames, fixed)
    m = evaluate_windows(net, mine, pca, task=task, loss=loss) if len(mine) else {"loss": 0.0, "sq_err": 0.0}
    t = torch.tensor([m["loss"] * len(mine), m["sq_err"] * len(mine), float(len(mine))], dtype=torch.float64,
                     device=reduce_device())
    torch.distributed.all_reduce(t)
    return (float(t[0] / t[2]), float(t[1] / t[2])) if t[2] else (math.nan, math.nan)
