"""Training: ``vis train DATA --out RUN``, centred or detection task (paper Sec. 6.1), resumable, DDP-ready.

A run folder holds:

- ``model.pt``: the checkpoint another command loads with no flags: network weights, its
  :class:`vis.config.ModelConfig`, the sound PCA (mean and components of the square-rooted envelopes),
  and the training config; written atomically at the end of each epoch that lowers the validation sq_err
  (:func:`vis.eval.metrics.sq_err` of the decoded prediction: the robust loss can be won by a prediction
  constant in time, the squared error cannot). The detection task keeps selecting on its validation loss,
  which aligns the prediction in time first (Eq. 5): sq_err charges a peak a frame off twice and favours a
  flat prediction (``test_detection_needs_spacetime_when_only_motion_shows_contact``: epoch 1 of 20, AP 0);
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

This module is the loop; :mod:`vis.pipeline` builds the windows and writes the bank, :mod:`vis.objective`
holds the loss and the validation, :class:`vis.model.run.RunDir` the run folder's file names, and
:mod:`vis.model.device` the devices and DDP's processes.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import astuple, dataclass

import numpy as np
import torch
from tqdm import tqdm

from vis.config import RunConfig, Task, normalised_toml, resumable_toml, to_toml
from vis.data.windows import StepBatches, Windows, step_loader
from vis.errors import Interrupted, VisError
from vis.model.checkpoint import SoundPCA, checkpoint, init_backbone, init_network
from vis.model.device import any_process, autocast, distributed, training_device
from vis.model.inputs import draw_augmentation, fix_inputs, forward, input_options
from vis.model.network import VisNet
from vis.model.run import RunDir, TrainSummary, save_atomic
from vis.objective import learning_rate, no_video_sq_err, validate, window_loss
from vis.plots import save_training_curves_png

CURVES_EVERY_S = 60.0  # curves.png is refreshed after an epoch at most this often (a plot takes ~0.5 s), and at the end


def initial_network(cfg: RunConfig) -> VisNet:
    """Weights drawn with ``cfg.train.seed``, then the CNN of the run ``cfg.train.init`` (a frozen trunk's cached
    features are named after it) or the whole network of the run ``cfg.train.start``, when given."""
    torch.manual_seed(cfg.train.seed)
    net = VisNet(cfg.model)
    if cfg.train.init:
        init_backbone(net, cfg.train.init)
    if cfg.train.start:
        init_network(net, cfg.train.start)
    return net


def train(train_windows: Windows, val_windows: Windows, cfg: RunConfig, out: str | os.PathLike, *,
          resume: bool = False, progress: bool = True, max_steps: int | None = None, device: str = "auto",
          amp: bool | None = None, net: VisNet | None = None) -> TrainSummary:
    """Train on ``train_windows``, validating each epoch on ``val_windows``; write the run folder ``out``.

    ``net``: the network to start from, :func:`initial_network` of ``cfg`` (built here when not given).

    ``max_steps`` stops after that many steps in this call (saving resumable state), e.g. to time-box.
    ``device``: see :func:`vis.model.device.resolve_device` (``auto``: CUDA when present); ``amp``: bf16 autocast
    of the forward pass (None: on CUDA only).
    """
    dev = training_device(device)
    rank, world = distributed(dev)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    run = RunDir(out)
    if rank == 0:
        run.create()
    if len(train_windows) < cfg.train.batch_size:
        raise VisError(f"only {len(train_windows)} training windows (need at least batch_size = "
                       f"{cfg.train.batch_size})")
    if cfg.train.batch_size < world:
        raise VisError(f"batch_size {cfg.train.batch_size} is smaller than the {world} processes: each needs a window")
    trainer = _Trainer(train_windows, val_windows, cfg, run, net if net is not None else initial_network(cfg), dev,
                       rank=rank, world=world, amp=amp, progress=progress)
    if resume:
        trainer.resume()
    elif rank == 0:
        run.start_afresh()
    if rank == 0:
        run.config.write_text(to_toml(cfg))
    trainer.train(max_steps)
    return trainer.summary()


@dataclass
class _Best:
    """The epoch whose weights ``model.pt`` holds: its selection score (:meth:`vis.config.Task.score`), number
    (0: none yet), validation loss and sq_err."""

    score: float = math.inf
    epoch: int = 0
    val_loss: float = math.nan
    val_sq_err: float = math.nan

    @classmethod
    def saved(cls, best: tuple, task: Task) -> _Best:
        """From ``state.pt``; one saved before sq_err existed holds (validation loss, epoch), and a centred
        run's next epoch wins over it."""
        if len(best) == 2:
            return cls(best[0] if task.selects_on == "val_loss" else math.inf, best[1], best[0], math.nan)
        return cls(*best)


class _Trainer:
    """One :func:`train` call: the network and optimizer, where training is (step, the best epoch so far,
    the current epoch's losses, timings) and the run folder it writes (on the first process only)."""

    def __init__(self, train_windows: Windows, val_windows: Windows, cfg: RunConfig, run: RunDir, net: VisNet,
                 dev: torch.device, *, rank: int, world: int, amp: bool | None, progress: bool) -> None:
        self.train_windows, self.val_windows, self.run = train_windows, val_windows, run
        self.cfg, self.tc = cfg, cfg.train
        self.dev, self.rank, self.world, self.amp, self.progress = dev, rank, world, amp, progress
        self.main = rank == 0
        self.pca = SoundPCA.fit(train_windows.targets.reshape(-1, 42), cfg.model.pca_dim)
        self.net = net
        if cfg.model.prior_rows:
            if train_windows.targets.shape[1] != cfg.model.prior_rows:
                raise VisError(f"prior_rows = {cfg.model.prior_rows}, but the training windows have "
                               f"{train_windows.targets.shape[1]} rows")
            net.prior.copy_(torch.from_numpy(self.pca.encode(train_windows.targets).mean(0)))
        net.to(dev)
        if cfg.model.backbone == "none":  # nothing learnt from pixels: the network's inputs are computed once
            for w in (train_windows, val_windows):
                fix_inputs(w, net, progress=progress and self.main)
        self.opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=self.tc.lr)
        self.step, self.t_spent, self.t0 = 0, 0.0, time.time()
        self.best = _Best()
        self.epoch_loss = (0.0, 0)  # (sum, count) of this process's training losses in the current epoch
        self.running: list[float] = []  # this call's training losses, one a step
        self.val_loss, self.val_sq = math.nan, math.nan  # of the last epoch
        self.waited, self.stepped, self.seen = 0.0, 0.0, 0  # seconds waiting for batches, in steps; windows seen
        self.plotted = (-1, time.time())  # (step, time) of the last curves.png

    def resume(self) -> None:
        """Go on from ``state.pt``: weights, optimizer, step, best epoch; drop the log lines after its step."""
        if not self.run.state.is_file():
            raise VisError(f"{self.run.state}: nothing to resume")
        st = torch.load(self.run.state, map_location="cpu", weights_only=False)
        if normalised_toml(st["config"]) != resumable_toml(self.cfg):
            raise VisError(f"{self.run.state}: the run was started with another configuration "
                           f"(see {self.run.config})")
        self.net.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        self.pca = SoundPCA(st["pca_mean"], st["pca_components"])
        self.step, self.t_spent = st["step"], st["seconds"]
        self.best = _Best.saved(tuple(st.get("best", (math.inf, 0))), self.cfg.task)
        self.epoch_loss = tuple(st.get("epoch_loss", (0.0, 0)))
        if self.main:
            self.run.cut_log(self.step)

    def train(self, max_steps: int | None) -> None:
        """Steps until the last epoch ends (or ``max_steps`` more, or a signal), validating after each epoch."""
        model: torch.nn.Module = self.net
        if self.world > 1:
            ids = [self.dev.index] if self.dev.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
        batches = StepBatches(self.train_windows, batch_size=self.tc.batch_size, seed=self.tc.seed, rank=self.rank,
                              world=self.world, **input_options(self.train_windows, self.cfg.model))
        self.steps_per_epoch = batches.steps_per_epoch
        self.total_steps = self.steps_per_epoch * self.tc.epochs
        self._measure_baselines()
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step",
                   disable=not self.progress or not self.main)
        self.t0 = time.time()
        self.net.train()
        first_step = self.step
        stop = _StopAtStep()  # Ctrl-C / SIGTERM: finish the step, save, then stop (a second one stops at once)
        augmenting = self.tc.augment and not self.cfg.model.frozen and batches.kind == "frames"
        # fixed inputs are arrays in memory: read in this process (workers would only add copies between processes)
        workers = self.tc.workers if batches.kind != "fixed" else 0
        loader = iter(step_loader(batches, range(self.step, self.total_steps), workers=workers,
                                  pin_memory=self.dev.type == "cuda"))
        try:
            while self.step < self.total_steps:
                if stop.now(self.world):
                    self.save_state()
                    raise KeyboardInterrupt
                if max_steps is not None and self.step - first_step >= max_steps:
                    self.save_state()
                    break
                self._take_step(model, next(loader), augmenting)
                bar.update()
                bar.set_postfix(loss=f"{np.mean(self.running[-20:]):.2f}", val=f"{self.val_loss:.2f}")
                self._after_step()
        except KeyboardInterrupt:
            bar.close()
            raise self._interrupted(stop.requested) from None
        finally:
            stop.restore()
        bar.close()
        if not self.run.model.is_file() and self.main:
            save_atomic(checkpoint(self.net, self.pca, self.cfg, {"step": self.step}), self.run.model)
        if self.plotted[0] != self.step:
            self.plot_curves()

    def _measure_baselines(self) -> None:
        """The training windows' PCA codes, and the no-video baselines' loss and sq_err on the validation
        windows (once: they do not change while training)."""
        self.targets_code = self.pca.encode(self.train_windows.targets)  # [M, N*K, 10]
        self.baseline_loss = math.nan  # the loss of always predicting the mean training sound (PCA code 0)
        if len(self.val_windows):
            val_env = torch.from_numpy(self.val_windows.targets)
            val_code = torch.from_numpy(self.pca.encode(self.val_windows.targets))
            self.baseline_loss = float(window_loss(torch.zeros_like(val_code), val_code, val_env, self.cfg.task,
                                                   self.tc.loss).item())
        self.baseline_sq = no_video_sq_err(self.train_windows, self.val_windows, self.pca)

    def _take_step(self, model: torch.nn.Module, batch: dict, augmenting: bool) -> None:
        """One optimizer step on ``batch`` (this process's share of the step's global batch)."""
        tc, t_step = self.tc, time.perf_counter()
        self.waited += t_step - self.t_wait if hasattr(self, "t_wait") else 0.0
        mine = batch["rows"].numpy()
        flips = offsets = None
        if augmenting:  # drawn here from (seed, step): the same whatever the number of workers
            rng = np.random.default_rng([tc.seed, self.step, self.rank])
            flips, offsets = draw_augmentation(rng, len(mine), tc.shift)
        torch.manual_seed(int(np.random.SeedSequence([tc.seed, self.step, self.rank]).generate_state(1)[0]))  # dropout
        with autocast(self.dev, self.amp):
            pred = forward(model, batch, self.cfg.model, flips=flips, offsets=offsets)
        env = batch["targets"].to(self.dev, non_blocking=True)
        share = float(batch["share"])  # so that DDP's gradient average is the global batch mean
        code = torch.from_numpy(self.targets_code[mine]).to(self.dev)
        loss = window_loss(pred.float(), code, env, self.cfg.task, tc.loss) * share
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), tc.clip)
        for group in self.opt.param_groups:  # a function of the step, so a resumed run follows the same rates
            group["lr"] = learning_rate(tc, self.step, self.total_steps)
        self.opt.step()
        value = loss.item() / share  # this process's own mean loss
        self.step += 1
        self.epoch_loss = (self.epoch_loss[0] + value, self.epoch_loss[1] + 1)
        self.running.append(value)
        self.stepped += time.perf_counter() - t_step
        self.seen += len(mine)

    def _after_step(self) -> None:
        """Log the training loss every ``log_every`` steps; at an epoch's end validate, keep the best epoch's
        weights in ``model.pt`` and save the state; else save the state every ``save_every`` steps."""
        step, epoch = self.step, (self.step - 1) // self.steps_per_epoch
        if step % self.tc.log_every == 0 and self.main:
            self.run.append_log({"step": step, "epoch": epoch,
                                 "train_loss": float(np.mean(self.running[-self.tc.log_every:]))})
        if step % self.steps_per_epoch == 0:
            self._end_epoch(epoch + 1)
        elif step % self.tc.save_every == 0:
            self.save_state()

    def _end_epoch(self, epoch: int) -> None:
        self.val_loss, self.val_sq = validate(self.net, self.val_windows, self.pca, task=self.cfg.task,
                                              loss=self.tc.loss, rank=self.rank, world=self.world)
        if self.main:
            self.run.append_log({
                "step": self.step, "epoch": epoch, "epoch_train_loss": self.epoch_loss[0] / max(self.epoch_loss[1], 1),
                "val_loss": self.val_loss, "val_sq_err": self.val_sq, "baseline_mean_loss": self.baseline_loss,
                "baseline_mean_sq_err": self.baseline_sq["mean"],
                "baseline_shape_sq_err": self.baseline_sq["average_shape"]})
        self.epoch_loss = (0.0, 0)
        score = self.cfg.task.score(self.val_loss, self.val_sq)  # see the module docstring
        if not score >= self.best.score:  # model.pt keeps the epoch with the lowest score
            self.best = _Best(score, epoch, self.val_loss, self.val_sq)
            if self.main:
                save_atomic(checkpoint(self.net, self.pca, self.cfg, {
                    "step": self.step, "epoch": epoch, "val_loss": self.val_loss, "val_sq_err": self.val_sq}),
                    self.run.model)
        self.save_state()
        if time.time() - self.plotted[1] >= CURVES_EVERY_S:
            self.plot_curves()

    def save_state(self) -> None:
        """``state.pt``: what ``--resume`` goes on from."""
        if self.main:
            save_atomic({"model": self.net.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step,
                         "config": resumable_toml(self.cfg), "seconds": self.t_spent + time.time() - self.t0,
                         "pca_mean": self.pca.mean, "pca_components": self.pca.components,
                         "best": astuple(self.best), "epoch_loss": self.epoch_loss}, self.run.state)

    def plot_curves(self) -> None:
        if self.main:
            save_training_curves_png(self.run.curves, self.run.log_entries(), kept=self.best.epoch or None)
        self.plotted = (self.step, time.time())

    def _interrupted(self, signals: int) -> Interrupted:
        """The error that says where a stopped run is and how to go on."""
        step, out = self.step, self.run.path
        if signals == 1:  # the state saved is that of the step boundary
            return Interrupted(f"stopped after step {step} of {self.total_steps}, state saved; resume with: "
                               f"vis train ... --out {out} --resume")
        if not self.run.state.is_file():  # nothing saved yet: --resume would have nothing to go on from
            return Interrupted(f"stopped during step {step + 1}, before the first save; start again with the same "
                               "command (without --resume)")
        return Interrupted(f"stopped during step {step + 1}; resume with: vis train ... --out {out} --resume "
                           f"(from the last saved state)")

    def summary(self) -> TrainSummary:
        best, kept = self.best, self.best.epoch > 0
        return TrainSummary(
            run=str(self.run.path), steps=self.step, epochs=self.tc.epochs, train_windows=len(self.train_windows),
            val_windows=len(self.val_windows),
            train_loss=float(np.mean(self.running[-self.steps_per_epoch:])) if self.running else math.nan,
            val_sq_err=best.val_sq_err if kept else self.val_sq, val_loss=best.val_loss if kept else self.val_loss,
            best_epoch=best.epoch, last_val_loss=self.val_loss, last_val_sq_err=self.val_sq,
            baseline_mean_loss=self.baseline_loss, baseline_mean_sq_err=self.baseline_sq["mean"],
            baseline_shape_sq_err=self.baseline_sq["average_shape"], seconds=self.t_spent + time.time() - self.t0,
            loader_wait_seconds=self.waited, step_seconds=self.stepped,
            step_windows_per_second=self.seen / self.stepped if self.stepped else math.nan)


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
        if world > 1 and any_process(self.requested > 0):
            self.requested = max(self.requested, 1)
        return self.requested > 0

    def _handle(self, signum, frame):
        self.requested += 1
        if self.requested > 1:
            raise KeyboardInterrupt

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}
