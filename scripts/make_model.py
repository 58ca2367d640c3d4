"""Train the model shipped with the package (``make model``): the default recipe on real Greatest Hits video.

    python scripts/make_model.py [--shared ../shared] [--work .cache/model] [--out vis/models/default]

1. Lays out the real videos of ``SHARED/realgh`` as the released dataset (its own ``make_layout.py``: 22
   videos, 16 train and 6 test, recording sessions kept on one side).
2. Holds out VAL_IDS (4 of the 16 train videos, from 4 other recording sessions) for the centred model's
   choice of epoch; the centred model is trained on the other 12. The impact detector is trained on all 16,
   its threshold and gap fitted on out-of-fold probabilities of the 16 (4 folds), and so is its low-rate
   detector (for video under 20 fps) on their half-rate copies. The 6 test videos are never read.
3. Trains ``vis train`` with the defaults and copies the run to ``OUT`` in the form installed with the
   package: ``model.pt`` without the frozen ImageNet trunk (taken from its wheel when loaded), ``bank.npz``
   with its exemplars' sound at BANK_SR, ``config.toml``, ``summary.json``. Refuses a result over MAX_MB.

Only this script (and ``benchmarks/``) reads ``../shared``; the package and its tests never do.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vis.audio.resample import change_rate
from vis.config import load_config
from vis.data.dataset import Dataset
from vis.data.io import atomic_output
from vis.model.checkpoint import save_atomic, slim_checkpoint
from vis.pipeline import run

ROOT = Path(__file__).resolve().parent.parent
VAL_IDS = ("2015-02-22-14-21-41", "2015-03-30-01-37-31", "2015-09-24-16-38-42-322", "2015-10-06-19-12-12-54")
BANK_SR = 22_050  # the exemplars' sound: the cochleagram stops at 10 kHz, so 22.05 kHz keeps all it describes
MAX_MB = 25.0


def lay_out(shared: Path, work: Path) -> Path:
    data = work / "realgh"
    if not (data / "test.txt").is_file():
        script = shared / "realgh" / "make_layout.py"
        if not script.is_file():
            sys.exit(f"make model: {script}: not found (the real footage lives in ../shared/realgh)")
        subprocess.run([sys.executable, str(script), str(data)], check=True)
    splits = work / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    train = (data / "train.txt").read_text().split()
    for name, ids in (("train", [v for v in train if v not in VAL_IDS]), ("val", list(VAL_IDS)),
                      ("test", (data / "test.txt").read_text().split())):
        (splits / f"{name}.txt").write_text("".join(f"{v}\n" for v in ids))
    return data


def ship(run_dir: Path, out: Path) -> dict:
    """Copy a run into the installed form (see the module docstring); returns sizes in MB."""
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ck = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=False)
    save_atomic(slim_checkpoint(ck), tmp / "model.pt")
    with np.load(run_dir / "bank.npz") as z:
        bank = {k: z[k] for k in z.files}
    sr = int(bank["sr"])
    bank["audio"] = np.stack([np.clip(np.round(change_rate(a.astype(np.float32), sr, BANK_SR)), -32768, 32767)
                              for a in bank["audio"]]).astype(np.int16)
    bank["pre"] = np.int64(round(int(bank["pre"]) * BANK_SR / sr))
    bank["sr"] = np.int64(BANK_SR)
    with atomic_output(tmp / "bank.npz") as t, open(t, "wb") as f:
        np.savez_compressed(f, **bank)
    for name in ("config.toml", "summary.json"):
        shutil.copy2(run_dir / name, tmp / name)
    sizes = {p.name: round(p.stat().st_size / 1e6, 2) for p in tmp.iterdir()}
    if sum(sizes.values()) > MAX_MB:
        sys.exit(f"make model: the model would take {sum(sizes.values()):.1f} MB (at most {MAX_MB}): {sizes}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return sizes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=str(ROOT.parent / "shared"))
    p.add_argument("--work", default=str(ROOT / ".cache" / "model"))
    p.add_argument("--out", default=str(ROOT / "vis" / "models" / "default"))
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    t0 = time.time()
    work = Path(a.work)
    data = lay_out(Path(a.shared), work)
    ds = Dataset.open(data, split=work / "splits")
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    summary = run(ds, run_dir, load_config(None), cache=work / "cache", workers=a.workers)
    sizes = ship(run_dir, Path(a.out))
    print(json.dumps({"validation": {k: v for k, v in summary.to_dict().items() if "val" in k}, "sizes_mb": sizes,
                      "minutes": round((time.time() - t0) / 60, 1)}, indent=2))
    print(f"make model: wrote {a.out} ({sum(sizes.values()):.1f} MB) in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
