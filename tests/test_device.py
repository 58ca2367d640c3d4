"""Devices: --device parsing, checkpoints from another device, the AMP code path with autocast off on the CPU,
and benchmarks/gpu_check.py at tiny size on the CPU (so that it cannot rot before a GPU runs it)."""

import io
import json
import pickletools
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY_CONFIG
from vis.cli import main
from vis.config import load_config
from vis.data.cache import load, prepare
from vis.data.dataset import Dataset
from vis.data.windows import centred_windows
from vis.errors import VisError
from vis.model.checkpoint import load_model
from vis.model.device import autocast, model_device, resolve_device
from vis.train import train

ROOT = Path(__file__).resolve().parent.parent


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "cuda:x", "tpu"):
        with pytest.raises(VisError, match="unknown device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(VisError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_a_device_this_machine_lacks_is_one_line(tiny_run, tiny_data, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    src = next(tiny_data.glob("*_denoised.mp4"))
    code = main(["predict", str(src), "--model", str(tiny_run), "-o", str(tmp_path / "o.mp4"), "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "vis: error: device 'cuda': CUDA is not available on this machine (use --device cpu)"
    assert not (tmp_path / "o.mp4").exists()


def _as_if_saved_on(path: Path, location: str) -> None:
    """Rewrite a torch checkpoint so that its tensors say they were saved on ``location`` (e.g. cuda:0), as a
    GPU run's would: the storage location strings in its pickle are replaced."""
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in files if n.endswith("data.pkl"))
    out, data = io.BytesIO(), files[name]
    ops = list(pickletools.genops(data))
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        if op.name in ("BINUNICODE", "SHORT_BINUNICODE") and arg == "cpu":
            b = location.encode()
            out.write(b"\x8c" + bytes([len(b)]) + b)  # SHORT_BINUNICODE
        else:
            out.write(data[pos:end])
    files[name] = out.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)


def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu(tiny_run, tmp_path):
    ck = tmp_path / "model.pt"
    ck.write_bytes((tiny_run / "model.pt").read_bytes())
    _as_if_saved_on(ck, "cuda:0")
    if not torch.cuda.is_available():  # the rewrite took: a plain load wants the GPU
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(ck, weights_only=False)
    net = load_model(ck, device="cpu").net
    ref = load_model(tiny_run, device="cpu").net
    assert model_device(net) == torch.device("cpu")
    for a, b in zip(net.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_autocast_is_on_for_cuda_only():
    with autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), True):  # asked for, but not on the CPU
        assert not torch.is_autocast_enabled("cpu")
    assert autocast(torch.device("cuda")).fast_dtype == torch.bfloat16


def test_training_with_amp_asked_for_on_the_cpu_is_the_fp32_run(tiny_data, tmp_path):
    ds = Dataset.open(tiny_data)
    prepare(ds, tmp_path / "c", size=(32, 24), progress=False)
    tr = centred_windows([load(tmp_path / "c", v, (32, 24)) for v in ds.split("train")])
    va = centred_windows([load(tmp_path / "c", v, (32, 24)) for v in ds.split("test")])
    (tmp_path / "t.toml").write_text(TINY_CONFIG)
    cfg = load_config(tmp_path / "t.toml")
    runs = {}
    for amp in (None, True):
        s = train(tr, va, cfg, tmp_path / f"run-{amp}", progress=False, device="cpu", amp=amp)
        runs[amp] = (s, torch.load(tmp_path / f"run-{amp}" / "model.pt", weights_only=False)["state_dict"])
    assert np.isfinite(runs[None][0].train_loss)
    for a, b in zip(runs[None][1].values(), runs[True][1].values()):
        assert torch.equal(a, b)


@pytest.mark.slow(33)
def test_gpu_check_runs_on_the_cpu_at_tiny_size(tmp_path):
    out = tmp_path / "gpu_check.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--tiny",
                        "--steps", "20", "--workers", "1", "--paper-steps", "4", "--loader-workers", "2",
                        "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(out.read_text())
    assert result["loss_falls"] and result["matches_cpu"] and result["train_steps"] == 20
    assert result["paper_steps"] == 4 and 0 <= result["paper_loader_wait_share"] <= 1
    for key in ("train_frames_per_s", "predict_realtime_factor", "max_rel_diff_vs_cpu", "paper_frames_per_s"):
        assert result[key] >= 0
    assert "loss" in r.stdout and "real time" in r.stdout and "waiting for the loader" in r.stdout
