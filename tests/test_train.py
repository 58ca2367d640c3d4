"""Training end to end on a tiny dataset: run folder, resume, DDP, and the feature cache."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import TINY_CONFIG
from vis.config import load_config
from vis.data.cache import load, prepare
from vis.data.dataset import Dataset
from vis.data.motion import MOTION_FEATURES
from vis.data.windows import centred_windows
from vis.model.checkpoint import load_model
from vis.model.inputs import fix_inputs, predict
from vis.train import train


def test_run_folder_is_complete_and_loadable(tiny_run):
    for name in ("model.pt", "state.pt", "log.jsonl", "config.toml", "bank.npz", "summary.json"):
        assert (tiny_run / name).is_file(), name
    log = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert any("val_loss" in e for e in log) and any("train_loss" in e for e in log)
    ends = [e for e in log if "val_loss" in e]
    for e in ends:
        for key in ("epoch_train_loss", "val_sq_err", "baseline_mean_sq_err", "baseline_shape_sq_err"):
            assert np.isfinite(e[key]), key
    assert (tiny_run / "curves.png").stat().st_size > 1000
    s = json.loads((tiny_run / "summary.json").read_text())
    best = min(ends, key=lambda e: e["val_sq_err"])  # model.pt keeps the epoch with the lowest val sq_err
    assert s["best_epoch"] == best["epoch"] and s["val_sq_err"] == best["val_sq_err"]
    assert s["val_loss"] == best["val_loss"] and s["baseline_shape_sq_err"] == best["baseline_shape_sq_err"]
    assert torch.load(tiny_run / "model.pt", weights_only=False)["epoch"] == best["epoch"]
    model = load_model(tiny_run)  # no flags: the checkpoint carries its config
    net, pca = model.net, model.pca
    assert model.task.name == "centred" and model.run.path == tiny_run and model.image_size == (32, 24)
    assert net.cfg.image_size == (32, 24) and net.cfg.hidden == 8
    x = torch.zeros(1, 17, 24, 32, 3, dtype=torch.uint8)
    assert net(x, motion=torch.zeros(1, 15, MOTION_FEATURES)).shape == (1, 45, 10)  # a flow network
    assert pca.decode(np.zeros(10, np.float32)).shape == (42,)


@pytest.fixture(scope="module")
def windows(tiny_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    ds = Dataset.open(tiny_data)
    prepare(ds, cache, size=(32, 24), progress=False)
    tr = centred_windows([load(cache, v, (32, 24)) for v in ds.split("train")])
    va = centred_windows([load(cache, v, (32, 24)) for v in ds.split("test")])
    assert len(tr) >= 4 and len(va) >= 1
    return tr, va


def test_motion_is_cached_with_its_half_rate_copies_and_older_caches_still_load(tiny_data, tmp_path):
    from vis.errors import VisError
    from vis.train_onsets import half_rate_copies

    ds = Dataset.open(tiny_data)
    vid = ds.split("train")[0]
    prepare(ds, tmp_path, size=None, ids=[vid], progress=False)
    vf = load(tmp_path, vid)
    assert vf.motion is not None and vf.half_rate is not None
    assert vf.half_rate.shape == (2, *vf.motion.shape) and vf.motion.shape[1] == MOTION_FEATURES
    np.save(tmp_path / "old.npy", np.array(vf.motion))  # as an older vis stored it: the video's alone
    (tmp_path / "old.npy").replace(tmp_path / f"{vid}.motion.npy")  # (a new file: vf's memory map keeps the old)
    sidecar = tmp_path / f"{vid}.motion.json"
    sidecar.write_text(json.dumps({k: v for k, v in json.loads(sidecar.read_text()).items() if k != "half_rate"}))
    old = load(tmp_path, vid)
    assert np.array_equal(old.motion, vf.motion) and old.half_rate is None  # fine for all but the low-rate detector
    with pytest.raises(VisError, match=f"{vid}: half-rate motion features not prepared"):
        half_rate_copies([old])
    assert prepare(ds, tmp_path, size=None, ids=[vid], progress=False)["computed"] == 1  # rebuilt
    assert load(tmp_path, vid).half_rate is not None


def test_windows_are_centred_on_the_clicks(windows):
    tr, _ = windows
    loud = tr.targets.sum(axis=2).argmax(axis=1)  # the loudest row of each window
    assert np.all(np.abs(loud - 22) <= 4)  # centre row 22, within ~1 frame


def test_resume_ends_where_an_uninterrupted_run_would(windows, tmp_path):
    tr, va = windows
    (tmp_path / "c.toml").write_text(TINY_CONFIG)
    cfg = load_config(tmp_path / "c.toml")
    full = train(tr, va, cfg, tmp_path / "full", progress=False)
    part = train(tr, va, cfg, tmp_path / "part", progress=False, max_steps=3)
    assert part.steps == 3
    resumed = train(tr, va, cfg, tmp_path / "part", progress=False, resume=True)
    assert resumed.steps == full.steps
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "part" / "model.pt", weights_only=False)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    steps = [json.loads(x)["step"] for x in (tmp_path / "part" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # no duplicated log lines after resuming
    # the per-epoch lines (epoch training loss included) are those of the uninterrupted run
    ends = [[json.loads(x) for x in (tmp_path / r / "log.jsonl").read_text().splitlines() if "val_loss" in x]
            for r in ("full", "part")]
    assert len(ends[0]) == len(ends[1]) == cfg.train.epochs
    for a, b in zip(*ends):
        assert a == pytest.approx(b, rel=1e-6)
    assert (tmp_path / "part" / "curves.png").is_file()
    assert resumed.val_sq_err == pytest.approx(full.val_sq_err, rel=1e-6)


def test_no_video_baselines_and_validation_sq_err(windows):
    from vis.eval.metrics import sq_err
    from vis.model.checkpoint import SoundPCA
    from vis.objective import evaluate_windows, no_video_sq_err

    tr, va = windows
    pca = SoundPCA.fit(tr.targets.reshape(-1, 42))
    base = no_video_sq_err(tr, va, pca)
    shape = np.broadcast_to(tr.targets.mean(axis=0), va.targets.shape)
    assert base["average_shape"] == pytest.approx(sq_err(shape, va.targets))
    assert base["mean"] == pytest.approx(sq_err(np.broadcast_to(np.clip(pca.mean, 0, None) ** 2, va.targets.shape),
                                                 va.targets), rel=1e-5)

    class Perfect(torch.nn.Module):  # the true PCA code of every window (one batch): only the PCA residual is left
        cfg = load_config(None, image_size=[32, 24], backbone="small").model

        def forward(self, frames):
            assert len(frames) == len(va)
            return torch.from_numpy(pca.encode(va.targets))

    m = evaluate_windows(Perfect(), va, pca, batch_size=len(va))
    assert m["sq_err"] == pytest.approx(sq_err(pca.decode(pca.encode(va.targets)), va.targets), rel=1e-5)
    assert m["sq_err"] < min(base.values())


def test_training_curves_from_old_and_new_logs(tmp_path):
    from vis.plots import save_training_curves_png

    old = [{"step": 1, "epoch": 0, "train_loss": 3.0}, {"step": 2, "epoch": 0, "train_loss": 2.0},
           {"step": 2, "epoch": 1, "val_loss": 2.5, "baseline_mean_loss": 3.0}]
    new = old[:2] + [{"step": 2, "epoch": 1, "epoch_train_loss": 2.5, "val_loss": 2.5, "val_sq_err": 0.4,
                      "baseline_mean_loss": 3.0, "baseline_mean_sq_err": 0.6, "baseline_shape_sq_err": 0.5}]
    for name, log in (("old", old), ("new", new), ("empty", [])):
        save_training_curves_png(tmp_path / f"{name}.png", log, kept=1 if name == "old" else None)
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name


def test_resume_with_another_config_is_refused(windows, tmp_path):
    from vis.errors import VisError

    tr, va = windows
    (tmp_path / "c.toml").write_text(TINY_CONFIG)
    train(tr, va, load_config(tmp_path / "c.toml"), tmp_path / "r", progress=False, max_steps=1)
    with pytest.raises(VisError, match="another configuration"):
        train(tr, va, load_config(tmp_path / "c.toml", lr=0.5), tmp_path / "r", progress=False, resume=True)


def test_cache_is_reused_and_rebuilt_when_inputs_change(tiny_data, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    ds = Dataset.open(data)
    first = prepare(ds, tmp_path / "c", size=(32, 24), progress=False)
    again = prepare(ds, tmp_path / "c", size=(32, 24), progress=False)
    assert first["computed"] == 4 and again["computed"] == 0
    wav = ds.audio_path(ds.ids[0])
    os.utime(wav, ns=(wav.stat().st_atime_ns, wav.stat().st_mtime_ns + 10**9))
    assert prepare(ds, tmp_path / "c", size=(32, 24), progress=False)["computed"] == 1
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.slow(16)
def test_ddp_two_processes_match_one(tiny_data, tiny_run, tmp_path):
    """torchrun with 2 processes against one process (the session's tiny_run: the same data and TINY_CONFIG)."""
    (tmp_path / "c.toml").write_text(TINY_CONFIG)
    common = [str(tiny_data), "--config", str(tmp_path / "c.toml"), "--cache", str(tmp_path / "cache")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29517", "-m", "vis", "train", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env)
    assert two.returncode == 0, two.stderr[-2000:]
    s1 = json.loads((tiny_run / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s1["steps"] == s2["steps"]
    # the same data order and global batch; only batch-norm statistics are per process
    assert s2["val_loss"] == pytest.approx(s1["val_loss"], rel=0.1, abs=5)
    assert s2["val_sq_err"] == pytest.approx(s1["val_sq_err"], rel=0.2)  # reduced over the two processes' halves
    for key in ("baseline_mean_sq_err", "baseline_shape_sq_err"):
        assert s2[key] == pytest.approx(s1[key], rel=1e-9)  # the whole validation set on every process
    assert (tmp_path / "two" / "curves.png").is_file()


@pytest.mark.parametrize("spacetime", [True, False])
def test_fixed_inputs_of_backbone_none_give_the_same_predictions_as_frames(tiny_data, tmp_path, spacetime):
    from vis.config import ModelConfig
    from vis.model.network import VisNet

    ds = Dataset.open(tiny_data)
    prepare(ds, tmp_path, size=(32, 24), progress=False)
    torch.manual_seed(0)
    net = VisNet(ModelConfig(image_size=(32, 24), hidden=8, spacetime=spacetime)).eval()
    w = centred_windows([load(tmp_path, v, (32, 24)) for v in ds.ids])
    rows = np.arange(len(w))
    with torch.no_grad():
        from_frames = predict(net, w, rows, net.cfg)
        fix_inputs(w, net)
        from_fixed = predict(net, w, rows, net.cfg)
    assert w.fixed is not None and len(rows) > 0
    torch.testing.assert_close(from_fixed, from_frames, atol=1e-3, rtol=1e-3)  # colour-only: float16 features


def test_frozen_trunk_cache_gives_the_same_predictions_as_frames(tiny_data, tmp_path):
    from vis.config import ModelConfig
    from vis.model.inputs import prepare_trunk, trunk_key
    from vis.model.network import VisNet

    cfg = ModelConfig(backbone="small", frozen=True, image_size=(32, 24), feat_dim=16, hidden=8)
    ds = Dataset.open(tiny_data)
    prepare(ds, tmp_path, size=(32, 24), progress=False)
    torch.manual_seed(0)
    net = VisNet(cfg).eval()
    for v in ds.ids:
        assert prepare_trunk(net, tmp_path, v)
        assert not prepare_trunk(net, tmp_path, v)  # cached
    videos = [load(tmp_path, v, (32, 24), trunk=trunk_key(net)) for v in ds.ids]
    w = centred_windows(videos)
    rows = np.arange(len(w))
    with torch.no_grad():
        from_frames = net(torch.from_numpy(w.frames(rows)))
        from_cache = predict(net, w, rows, cfg)
    torch.testing.assert_close(from_cache, from_frames, atol=2e-2, rtol=1e-2)  # float16 cache


def test_corrupt_video_stops_prepare_or_is_skipped(tiny_data, tmp_path):
    import shutil

    from vis.errors import VisError

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    bad = sorted(data.glob("*_denoised.mp4"))[1]
    bad.write_bytes(bad.read_bytes()[:2000])  # truncated
    with pytest.raises(VisError, match=bad.name):
        prepare(Dataset.open(data), tmp_path / "c", size=(32, 24), progress=False)
    ds = Dataset.open(data, skip_broken=True)
    with pytest.warns(UserWarning, match=bad.name):
        s = prepare(ds, tmp_path / "c", size=(32, 24), progress=False)
    vid = bad.name.split("_")[0]
    assert list(s["failed"]) == [vid] and vid not in ds.ids and vid not in ds.split("train")


@pytest.mark.slow(56)
def test_the_detection_model_finds_the_bounces_end_to_end(tmp_path):
    """End to end through ``vis train`` (alignment, lag, 3 layers, detection AP): on bounce videos the detection
    model with spacetime images finds the held-out impacts. Whether it beats the colour-only model (the paper's
    comparison, Sec. 6.1) is left to benchmarks/detection_bounce.py: the colour-only LSTM can follow the square
    from frame to frame, and its AP came 0.39 below the full model's on one data seed, 0.00-0.12 on five others."""
    from vis.config import to_toml
    from vis.eval.methods import detection_metrics
    from vis.sound.peaks import peak_params
    from vis.synth.bounce import write_bounce

    write_bounce(tmp_path / "data", videos=8, seconds=6.0, seed=0)  # 6 train / 2 test videos
    ds = Dataset.open(tmp_path / "data")
    prepare(ds, tmp_path / "cache", size=(32, 24), progress=False)  # the test videos too
    cfg = load_config(None, task="detection", loss="squared", epochs=10, batch_size=4, image_size=[32, 24],
                      det_frames=60, det_stride=15, backbone="small", feat_dim=32, hidden=32, threads=1)
    (tmp_path / "c.toml").write_text(to_toml(cfg))
    done = subprocess.run([sys.executable, "-m", "vis", "train", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                           "--config", str(tmp_path / "c.toml"), "--cache", str(tmp_path / "cache"), "--device", "cpu"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    model = load_model(tmp_path / "run")
    vids = [load(tmp_path / "cache", v, (32, 24)) for v in ds.split("test")]
    ap = detection_metrics(model.net, model.pca, vids, {v.vid: ds.events(v.vid) for v in vids},
                           **peak_params(model.checkpoint))
    # measured (data seeds 0, 1, 2): AP 1.0 each, onset accuracy 0.94-1.0; the colour-only model 0.93-1.0
    assert ap["ap"] >= 0.5 and ap["onset_acc"] >= 0.5, ap


def test_a_run_saved_before_an_option_existed_still_resumes():
    from vis.config import normalised_toml, resumable_toml

    cfg = load_config(None, epochs=2, loss="robust", schedule="constant", motion_channels=False, prior_rows=0,
                      widths=[32, 64, 96, 128, 128])
    older = resumable_toml(cfg)
    for line in ('loss = "robust"\n', 'schedule = "constant"\n', "motion_channels = false\n", "prior_rows = 0\n"):
        older = older.replace(line, "")  # state.pt written before these options existed
    assert older != resumable_toml(cfg) and normalised_toml(older) == resumable_toml(cfg)
    other = resumable_toml(load_config(None, epochs=3))
    assert normalised_toml(other) != resumable_toml(cfg)


def test_paper_preset_is_one_flag_away():
    from vis.errors import VisError

    paper = load_config(None, preset="paper")
    assert (paper.model.backbone, paper.model.image_size, paper.train.loss) == ("alexnet", (288, 160), "robust")
    assert not paper.model.motion_channels and paper.model.prior_rows == 0
    assert not paper.model.motion_stats and not paper.model.colour_trunk
    default = load_config(None)
    assert default.model.motion_channels and default.model.prior_rows == 45 and default.model.backbone == "none"
    assert default.model.motion_stats and default.model.colour_trunk and default.train.epochs == 30
    assert load_config(None, task="detection").train.epochs == 3
    assert not paper.train.visual_memory and load_config(None).train.visual_memory
    assert load_config(None, preset="paper", epochs=3).train.epochs == 3  # options still override it
    with pytest.raises(VisError, match="unknown preset"):
        load_config(None, preset="nope")


def test_a_checkpoint_saved_before_an_option_existed_loads_as_it_was_made(tmp_path):
    from vis.config import LEGACY_MODEL_DEFAULTS, ModelConfig, config_dict
    from vis.model.network import VisNet

    old = ModelConfig(backbone="small", feat_dim=8, hidden=8, image_size=(16, 16), motion_channels=False,
                      widths=tuple(LEGACY_MODEL_DEFAULTS["widths"]), motion_stats=False, colour_trunk=False)
    net = VisNet(old)
    mc = config_dict(old)
    for key in LEGACY_MODEL_DEFAULTS:
        del mc[key]  # written before these options existed
    torch.save({"format": "vis-model-1", "model_config": mc, "train_config": {}, "state_dict": net.state_dict(),
                "pca_mean": np.zeros(42, np.float32), "pca_components": np.eye(10, 42, dtype=np.float32)},
               tmp_path / "model.pt")
    loaded = load_model(tmp_path).net
    assert not loaded.cfg.motion_channels and loaded.cfg.widths == old.widths and loaded.cfg.prior_rows == 0
    assert not loaded.cfg.motion_stats and not loaded.cfg.colour_trunk


def test_init_starts_the_cnn_from_another_run(tiny_run, tmp_path):
    from vis.config import ModelConfig
    from vis.errors import VisError
    from vis.model.checkpoint import init_backbone
    from vis.model.network import VisNet

    other = load_model(tiny_run).net
    net = VisNet(other.cfg)
    init_backbone(net, tiny_run)
    for a, b in zip(net.backbone.state_dict().values(), other.backbone.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(net.colour_net.head.state_dict().values(), other.colour_net.head.state_dict().values()):
        assert torch.equal(a, b)  # the default (backbone none) has no CNN: its colour head is what carries over
    cnn = VisNet(ModelConfig(**{**vars(other.cfg), "backbone": "small"}))
    with pytest.raises(VisError, match="does not fit"):
        init_backbone(cnn, tiny_run)


def test_start_copies_the_whole_network_of_another_run_but_its_prior(tiny_run, tmp_path):
    from vis.config import ModelConfig, load_config
    from vis.errors import VisError
    from vis.model.checkpoint import init_network
    from vis.model.network import VisNet
    from vis.train import initial_network

    other = load_model(tiny_run).net
    cfg = load_config(tiny_run / "config.toml", start=str(tiny_run), seed=5)
    net = initial_network(cfg)
    theirs = other.state_dict()
    for key, value in net.state_dict().items():
        if key == "prior":
            assert not torch.equal(value, theirs[key]) and not value.any()  # the new run's training sets its own
        else:
            assert torch.equal(value, theirs[key]), key
    wider = VisNet(ModelConfig(**{**vars(other.cfg), "hidden": other.cfg.hidden + 1}))
    with pytest.raises(VisError, match="hidden"):
        init_network(wider, tiny_run)
    with pytest.raises(VisError, match="not both"):
        load_config(None, init=str(tiny_run), start=str(tiny_run))


def test_validation_videos_come_from_the_train_split_never_from_test(tiny_data, tmp_path):
    import shutil

    from vis.pipeline import train_and_validation

    ds = Dataset.open(tiny_data)
    tr, va = train_and_validation(ds)
    assert len(va) == 1 and not set(tr) & set(va) and set(tr) | set(va) == set(ds.split("train"))
    assert not set(va) & set(ds.split("test"))
    assert train_and_validation(Dataset.open(tiny_data)) == (tr, va)  # the same every time
    data = tmp_path / "d"
    shutil.copytree(tiny_data, data)
    (data / "val.txt").write_text(ds.split("test")[0] + "\n")  # a val split of its own is used as it is
    assert train_and_validation(Dataset.open(data)) == (ds.split("train"), ds.split("test"))


# a CNN on frames: batches read by 2 loader workers and augmented, so resuming covers both
LONG_TINY = (TINY_CONFIG.replace("epochs = 2", "epochs = 20\nworkers = 2")
             .replace("[model]", '[model]\nbackbone = "small"\nwidths = [4, 4, 8, 8, 8]'))


def _train_cmd(data, config, cache, out, *extra):
    return [sys.executable, "-m", "vis", "train", str(data), "--out", str(out), "--config", str(config),
            "--cache", str(cache), *extra]


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    """A 20-epoch tiny run never interrupted: (its weights, config file, cache)."""
    base = tmp_path_factory.mktemp("long")
    (base / "c.toml").write_text(LONG_TINY)
    assert subprocess.run(_train_cmd(tiny_data, base / "c.toml", base / "cache", base / "full"),
                          capture_output=True).returncode == 0
    return torch.load(base / "full" / "model.pt", weights_only=False)["state_dict"], base / "c.toml", base / "cache"


@pytest.mark.slow(24)
@pytest.mark.parametrize("sig,seed", [("SIGINT", 0), ("SIGTERM", 1)])  # steps 34 and 20 of 60
def test_a_signal_stops_at_a_step_boundary_and_resume_is_bit_identical(tiny_data, tmp_path, uninterrupted, sig, seed):
    """Ctrl-C or SIGTERM at a seeded point of a run: exit 130 with how to resume; the resumed run ends with
    exactly the weights (parameters and batch-norm buffers) of a run never interrupted."""
    import signal
    import time

    full, config, cache = uninterrupted
    cmd = [*_train_cmd(tiny_data, config, cache, tmp_path / "cut")]
    err_path = tmp_path / "stderr.txt"  # a file, not a pipe: a full pipe would block the run while we poll
    proc = subprocess.Popen(cmd, stderr=open(err_path, "w"))
    log = tmp_path / "cut" / "log.jsonl"
    wait_lines = int(np.random.default_rng(seed).integers(3, 40))  # somewhere in the run
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= wait_lines:
            break
        time.sleep(0.01)
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=120)
    err = err_path.read_text()
    assert proc.returncode == 130, err
    assert "--resume" in err.splitlines()[-1] and "Traceback" not in err
    assert subprocess.run(cmd + ["--resume"], capture_output=True).returncode == 0
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=False)["state_dict"]
    for k in full:
        assert torch.equal(full[k], cut[k]), k


def test_a_bank_of_the_same_impacts_is_taken_from_the_init_run_not_built_again(tiny_data, tiny_run, monkeypatch,
                                                                               tmp_path):
    import vis.pipeline
    from vis.pipeline import write_bank
    from vis.sound.exemplars import ExemplarBank

    ds = Dataset.open(tiny_data)
    cache = json.loads((tiny_run / "summary.json").read_text())["cache"]
    videos = [load(cache, v, (32, 24)) for v in ds.split("train")]
    every, fewer = centred_windows(videos), centred_windows(videos[:1])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_bank(ds, every, tmp_path / "a" / "bank.npz", visual=False)
    built = ExemplarBank.load(tmp_path / "a" / "bank.npz")
    assert built.source and len(built) == len(every)

    def no_build(*args, **kwargs):
        raise AssertionError("the bank was built again")

    monkeypatch.setattr(vis.pipeline, "build_bank", no_build)
    write_bank(ds, every, tmp_path / "b" / "bank.npz", visual=False, reuse=tmp_path / "a")
    assert (tmp_path / "b" / "bank.npz").read_bytes() == (tmp_path / "a" / "bank.npz").read_bytes()
    for windows, visual in ((fewer, False), (every, True)):  # other impacts, or another memory setting: built
        with pytest.raises(AssertionError, match="built again"):
            write_bank(ds, windows, tmp_path / "b" / "bank.npz", visual=visual, reuse=tmp_path / "a")


def test_the_bank_keeps_the_share_of_the_network_with_the_lowest_validation_error(tiny_data, tiny_run):
    from vis.eval.methods import predict_windows
    from vis.pipeline import MIX_GRID, train_and_validation
    from vis.sound.exemplars import ExemplarBank, centre_frame_features

    s = json.loads((tiny_run / "summary.json").read_text())
    bank = ExemplarBank.load(tiny_run / "bank.npz")
    assert bank.has_memory and bank.spectrum_mix == s["spectrum_mix"] and s["spectrum_mix"] in MIX_GRID
    ds = Dataset.open(tiny_data)
    val = centred_windows([load(s["cache"], v, (32, 24)) for v in train_and_validation(ds)[1]])
    model = load_model(tiny_run)
    pred = predict_windows(model.net, model.pca, val)
    prior = bank.visual_prior(centre_frame_features(val))

    def error(mix):  # a slow reference: each row's level, the mixed unit spectra, sq err row by row
        total, rows = 0.0, 0
        for p, q, t in zip(pred.reshape(-1, 42), prior.reshape(-1, 42), val.targets.reshape(-1, 42)):
            shape = mix * p / max(np.linalg.norm(p), 1e-8) + (1 - mix) * q / max(np.linalg.norm(q), 1e-8)
            row = np.linalg.norm(p) * shape / max(np.linalg.norm(shape), 1e-8)
            total += ((np.sqrt(np.clip(row, 0, None)) - np.sqrt(np.clip(t, 0, None))) ** 2).sum()
            rows += 1
        return total / rows

    errs = [error(mix) for mix in MIX_GRID]
    assert s["spectrum_mix"] == MIX_GRID[int(np.argmin(errs))]
    assert s["spectrum_mix_val_sq_err"] == pytest.approx(min(errs), abs=1e-4)
    assert list(s["spectrum_mix_val_sq_errs"].values()) == pytest.approx(errs, abs=1e-4)


def test_vis_train_start_runs_from_another_run_and_refuses_one_that_does_not_fit(tiny_data, tiny_run, tmp_path,
                                                                                capsys):
    from vis.cli import main

    (tmp_path / "c.toml").write_text(TINY_CONFIG)
    cache = json.loads((tiny_run / "summary.json").read_text())["cache"]
    args = ["train", str(tiny_data), "--config", str(tmp_path / "c.toml"), "--cache", cache, "--start", str(tiny_run)]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert load_config(tmp_path / "run" / "config.toml").train.start == str(tiny_run)  # the run says where it began
    capsys.readouterr()
    (tmp_path / "wide.toml").write_text(TINY_CONFIG.replace("hidden = ", "hidden = 1"))
    code = main([*args[:3], str(tmp_path / "wide.toml"), *args[4:], "--out", str(tmp_path / "wide")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error") == 1 and "hidden 8 (here 18)" in err and str(tiny_run) in err
    assert not (tmp_path / "wide").exists()  # refused before any work: not even the run folder


def test_the_task_is_one_object_that_answers_what_differs(tmp_path):
    from vis.config import CENTRED, DETECTION, DETECTION_EPOCHS
    from vis.model.run import RunDir, TrainSummary

    centred, detection = load_config(None), load_config(None, task="detection")
    assert centred.task is CENTRED and detection.task is DETECTION
    assert detection.model.layers == 3 and detection.model.lag == 2 and detection.train.epochs == DETECTION_EPOCHS
    assert centred.model.prior_rows == 45 and detection.model.prior_rows == 0
    assert CENTRED.score(val_loss=1.0, val_sq_err=2.0) == 2.0 and DETECTION.score(val_loss=1.0, val_sq_err=2.0) == 1.0
    assert load_config(None, task="detection", epochs=7).train.epochs == 7  # a default, not a rule
    # a run folder's files are named in one place, and summary.json is the summary's fields in order
    run = RunDir(tmp_path)
    assert RunDir.of(run.model).path == tmp_path and run.bank.name == "bank.npz"
    s = TrainSummary(str(tmp_path), 3, 1, 8, 2, 1.0, 0.5, 2.0, 1, 2.0, 0.5, 3.0, 0.6, 0.7, 1.5, 0.1, 1.0, 8.0,
                     cache="c", after={"peak_val_f1": 0.5}, wall_seconds=2.0)
    run.write_summary(s)
    d = run.read_summary()
    assert list(d)[:3] == ["run", "steps", "epochs"] and list(d)[-3:] == ["cache", "peak_val_f1", "wall_seconds"]
    assert d["cache"] == "c" and "validation_split" not in d and "after" not in d
