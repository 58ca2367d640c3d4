"""A run folder (``vis train --out RUN``) and its files: the one owner of their names; what a training run
did (:class:`TrainSummary`, its ``summary.json``).

``vis train`` writes it (:mod:`vis.train`, :mod:`vis.pipeline`); every other command reads it. The files
(see :mod:`vis.train` for what each holds): ``model.pt``, ``state.pt``, ``log.jsonl``, ``curves.png``,
``config.toml``, ``bank.npz`` and, written last, ``summary.json``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from vis.data.io import atomic_output, remove_stale_temporaries
from vis.errors import VisError


class RunDir:
    """The run folder ``path`` and the paths of its files."""

    MODEL = "model.pt"
    STATE = "state.pt"
    LOG = "log.jsonl"
    CURVES = "curves.png"
    CONFIG = "config.toml"
    BANK = "bank.npz"
    SUMMARY = "summary.json"
    # what a fresh run removes first: nothing of an earlier run in the folder may be mistaken for this one's
    OUTPUTS = (MODEL, STATE, BANK, SUMMARY, CURVES)
    WRITTEN = (MODEL, BANK, LOG, CURVES, CONFIG, SUMMARY)  # what a finished run has for the user (and state.pt)

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @classmethod
    def of(cls, run: str | os.PathLike) -> RunDir:
        """The run of a folder, or of a checkpoint file in it (``RUN/model.pt``: its bank is beside it)."""
        p = Path(run)
        return cls(p if p.is_dir() else p.parent)

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def state(self) -> Path:
        return self.path / self.STATE

    @property
    def log(self) -> Path:
        return self.path / self.LOG

    @property
    def curves(self) -> Path:
        return self.path / self.CURVES

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def bank(self) -> Path:
        return self.path / self.BANK

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def finished(self) -> bool:
        """Whether training wrote its summary (the last file it writes)."""
        return self.summary.is_file()

    def create(self) -> None:
        """Make the folder; remove the temporary file of a save cut short by kill -9."""
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)

    def start_afresh(self) -> None:
        """Remove the files of an earlier run in the folder and start an empty log."""
        for name in self.OUTPUTS:
            (self.path / name).unlink(missing_ok=True)
        self.log.write_text("")

    def append_log(self, entry: dict) -> None:
        with open(self.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def log_entries(self) -> list[dict]:
        return [json.loads(ln) for ln in self.log.read_text().splitlines() if ln.strip()]

    def cut_log(self, step: int) -> None:
        """Drop the log lines written after ``step`` (those of steps a resumed run trains again)."""
        if self.log.is_file():
            kept = [ln for ln in self.log.read_text().splitlines() if json.loads(ln)["step"] <= step]
            self.log.write_text("".join(ln + "\n" for ln in kept))

    def write_summary(self, summary: TrainSummary) -> None:
        with atomic_output(self.summary) as tmp:
            tmp.write_text(json.dumps(summary.to_dict(), indent=2))

    def read_summary(self) -> dict:
        """``summary.json`` as written (:meth:`TrainSummary.to_dict`)."""
        return json.loads(self.summary.read_text())

    def update_checkpoint(self, **entries) -> None:
        """Add ``entries`` to ``model.pt`` (what training fits after the network: calibration, a detector)."""
        if not self.model.is_file():
            raise VisError(f"{self.model}: no model to update")
        ck = torch.load(self.model, map_location="cpu", weights_only=False)
        ck.update(entries)
        save_atomic(ck, self.model)


@dataclass
class TrainSummary:
    """What a training run did (:func:`train`; ``summary.json`` holds it, with what :func:`vis.pipeline.run`
    adds). ``val_sq_err`` and ``val_loss`` are those of the epoch in ``model.pt`` (``best_epoch``: lowest val
    sq_err, for detection lowest val loss; 0 when no epoch ended); ``last_*`` those of the last epoch; the
    baselines those of the no-video predictions on the validation windows. ``loader_wait_seconds``,
    ``step_seconds`` and ``step_windows_per_second`` are this call's: the time waiting for the loader, and the
    steps' own throughput."""

    run: str
    steps: int
    epochs: int
    train_windows: int
    val_windows: int
    train_loss: float  # mean over the last epoch's steps of this call; NaN when it trained none
    val_sq_err: float
    val_loss: float
    best_epoch: int
    last_val_loss: float
    last_val_sq_err: float
    baseline_mean_loss: float
    baseline_mean_sq_err: float
    baseline_shape_sq_err: float
    seconds: float
    loader_wait_seconds: float
    step_seconds: float
    step_windows_per_second: float
    # set by vis.pipeline.run: the feature cache, the videos validated on, and what was fitted after the
    # network (the impact detector's numbers, or the detection model's peak picking); its whole time
    cache: str | None = None
    validation_split: str | None = None
    after: dict = field(default_factory=dict)
    wall_seconds: float | None = None

    @property
    def trained_nothing(self) -> bool:
        """A ``--resume`` of a run that had finished: no step was left."""
        return math.isnan(self.train_loss)

    def to_dict(self) -> dict:
        """As ``summary.json`` has it: the fields (the unset ones left out) and those of ``after`` in place of it."""
        d = {k: v for k, v in asdict(self).items() if k not in ("after", "wall_seconds") and v is not None}
        d.update(self.after)
        if self.wall_seconds is not None:
            d["wall_seconds"] = self.wall_seconds
        return d


def save_atomic(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary name, renamed into place when complete (a kill never leaves half a file)."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
