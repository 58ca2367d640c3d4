"""The Python API (vis.api): ``vis.load_model(run).predict(video)`` end to end on a tiny trained run."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

import vis
from tests.conftest import clicks
from vis.audio.synthesis import OUT_SR
from vis.cli import main
from vis.data.io import read_audio, write_wav
from vis.data.media import probe
from vis.model import checkpoint


def test_import_vis_stays_cheap():
    code = "import sys, vis; vis.load_model; print([m for m in ('torch', 'numpy', 'vis.api') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_predict_gives_what_vis_predict_writes(tiny_run, tiny_data, tmp_path):
    src = sorted(tiny_data.glob("*_denoised.mp4"))[0]
    model = vis.load_model(tiny_run, device="cpu")
    assert model.has_exemplars and model.run == tiny_run
    r = model.predict(src)
    assert isinstance(r, vis.api.PredictedSound) and r.method == "example" and r.sr == OUT_SR
    n_frames = probe(src).n_frames
    assert r.sound.dtype == np.float32 and r.sound.ndim == 1 and np.abs(r.sound).max() <= 1
    assert abs(r.duration - n_frames / 29.97) < 0.05
    assert r.cochleagram.shape == (len(r.times), 42) and len(r.times) == 3 * n_frames
    assert len(r.impacts) == len(r.strengths) and np.all((r.impacts >= 0) & (r.impacts <= r.duration))
    assert np.all(np.diff(r.impacts) > 0) and np.all(r.strengths >= 0)
    # the same sound as the command line's, sample for sample (up to the wav's 16 bits)
    assert main(["predict", str(src), "--model", str(tiny_run), "-o", str(tmp_path / "cli.mp4"),
                 "--wav", str(tmp_path / "cli.wav")]) == 0
    cli, sr = read_audio(tmp_path / "cli.wav", mono=True)
    assert sr == r.sr and len(cli) == len(r.sound) and np.abs(cli - r.sound).max() < 2 / 32768
    # written out: the sound alone, and muxed onto the input's video stream
    wav = r.save(tmp_path / "api.wav")
    saved, _ = read_audio(wav, mono=True)
    assert np.abs(saved - r.sound).max() < 2 / 32768
    out = r.write_video(tmp_path / "api.mp4")
    info = probe(out)
    assert info.has_audio and info.channels == 1 and info.n_frames == n_frames
    parametric = model.predict(src, method="parametric")
    assert parametric.method == "parametric" and len(parametric.sound) == len(r.sound)
    np.testing.assert_array_equal(parametric.cochleagram, r.cochleagram)  # one network, two ways to make sound


def test_bad_inputs_raise_one_line_vis_errors(tiny_run, tiny_data, tmp_path):
    src = sorted(tiny_data.glob("*_denoised.mp4"))[0]
    model = vis.load_model(tiny_run, device="cpu")
    with pytest.raises(vis.VisError, match="unknown method"):
        model.predict(src, method="loud")
    wav = tmp_path / "sound.wav"
    write_wav(wav, clicks([0.1], 0.5), 96_000)
    with pytest.raises(vis.VisError, match="no video stream"):
        model.predict(wav)
    with pytest.raises(vis.VisError, match="not a vis model"):
        vis.load_model(tmp_path, device="cpu")
    r = model.predict(src, method="parametric")
    for bad, match in [(tmp_path / "out.txt", "extension"), (tmp_path / "missing" / "out.mp4", "does not exist"),
                       (tmp_path, "extension"), (src, "overwrite the input")]:
        with pytest.raises(vis.VisError, match=match):
            r.write_video(bad)
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(vis.VisError, match="is a folder"):
        r.write_video(tmp_path / "folder.mp4")
    with pytest.raises(vis.VisError, match="extension"):
        r.save(tmp_path / "out.mp3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.mp4", "sound.wav"]  # nothing else written
    bare = tmp_path / "bare"  # a run without its exemplar bank: parametric only
    bare.mkdir()
    shutil.copy(tiny_run / "model.pt", bare / "model.pt")
    no_bank = vis.load_model(bare, device="cpu")
    assert not no_bank.has_exemplars
    with pytest.raises(vis.VisError, match="no exemplar bank"):
        no_bank.predict(src)
    assert len(no_bank.predict(src, method="parametric").sound) == len(r.sound)


def test_load_model_none_is_the_shipped_model(tiny_run, tiny_data, tmp_path, monkeypatch):
    install = tmp_path / "site" / "vis"
    monkeypatch.setattr(checkpoint, "__file__", str(install / "model" / "checkpoint.py"))
    shipped = install / "models" / "default"
    with pytest.raises(vis.VisError, match="no model is shipped with this install") as e:
        vis.load_model(None, device="cpu")
    assert str(shipped) in str(e.value) and len(str(e.value).splitlines()) == 1
    shipped.mkdir(parents=True)
    for name in ("model.pt", "bank.npz"):
        shutil.copy(tiny_run / name, shipped / name)
    model = vis.load_model(device="cpu")
    assert model.run == shipped and model.has_exemplars
    src = sorted(tiny_data.glob("*_denoised.mp4"))[0]
    assert len(model.predict(src).sound) > 0
