"""`vis study create` and `vis serve` from the command line: what a study folder holds, and bad input
refused in one line (exit 2) with nothing left behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from tests.conftest import TINY_IDS
from tests.web_helpers import rms_db
from vis.cli import main
from vis.data.io import read_audio
from vis.data.media import probe
from vis.web.study import load_manifest

ROOT = Path(__file__).resolve().parents[1]


def error_line(capsys, argv) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().replace("\r", "\n")  # a progress bar may precede the error
    said = [line for line in err.splitlines() if line.startswith("vis:")]
    assert code == 2 and len(said) == 1 and said[0].startswith("vis: error:") and err.endswith(said[0]), err
    assert "Traceback" not in err
    return said[0]


def test_study_create_writes_clips_with_real_and_predicted_sound(tiny_data, tiny_run, tmp_path, capsys):
    out = tmp_path / "tiny-study"
    assert main(["study", "create", str(tiny_data), "--model", str(tiny_run), "--out", str(out), "--clip", "0.6",
                 "--seed", "3", "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert "wrote 2 clips from 1 test videos" in said and "1 trials" in said
    m = load_manifest(out)
    assert m["id"] == "tiny-study" and m["methods"] == ["example", "parametric"] and m["practice"] == 5
    assert [(c["video"], c["time"], c["material"], c["action"]) for c in m["clips"]] == [
        (TINY_IDS[3], 0.4, "wood", "hit"), (TINY_IDS[3], 1.0, None, "scratch")]  # the test split's two impacts
    wav, sr = read_audio(tiny_data / f"{TINY_IDS[3]}_denoised.wav", mono=True)
    for c in m["clips"]:
        assert set(c["real_side"].values()) <= {"left", "right"}
        files = [c["real"]] + [c["sounds"][k] for k in m["methods"]]
        for f in files:
            info = probe(out / f)
            assert info.has_video and info.has_audio and abs(info.duration - 0.6) < 0.05, f
        real, rsr = read_audio(out / c["real"], mono=True)
        segment = wav[int((c["time"] - 0.3) * sr) : int((c["time"] + 0.3) * sr)]
        assert rsr == sr and abs(np.abs(real).max() - np.abs(segment).max()) < 0.05  # the click, at its level
    assert (out / "study.db").is_file() and not list(tmp_path.glob(".*building*"))
    res = json.loads((out / "study.json").read_text())
    assert res["data"] == str(tiny_data.resolve()) and res["model"] == str(tiny_run)


def test_match_level_gives_the_predicted_sound_the_real_ones_level(tiny_data, tiny_run, tmp_path, capsys):
    out = tmp_path / "level"
    assert main(["study", "create", str(tiny_data), "--model", str(tiny_run), "--out", str(out), "--clip", "0.6",
                 "--match-level", "--device", "cpu"]) == 0
    m = load_manifest(out)
    assert m["match_level"] is True and not list((out / "clips").glob(".*"))
    for c in m["clips"]:
        real = rms_db(out / c["real"])
        for f in c["sounds"].values():
            assert abs(rms_db(out / f) - real) < 0.5, (f, rms_db(out / f), real)  # as decoded from the mp4s


def test_study_create_refuses_bad_input_in_one_line(tiny_data, tiny_run, tmp_path, capsys):
    base = ["study", "create", tiny_data, "--model", tiny_run, "--clip", "0.6"]
    (tmp_path / "taken").mkdir()
    assert "already exists" in error_line(capsys, base + ["--out", tmp_path / "taken"])
    assert "--methods" in error_line(capsys, base + ["--out", tmp_path / "s", "--methods", "example,loud"])
    assert "name" in error_line(capsys, base + ["--out", tmp_path / "a b"])
    assert "does not exist" in error_line(capsys, base + ["--out", tmp_path / "no" / "s"])
    assert "not a folder" in error_line(capsys, ["study", "create", tmp_path / "nodata", "--model", tiny_run,
                                                 "--out", tmp_path / "s"])
    assert "not a vis model" in error_line(capsys, ["study", "create", tiny_data, "--model", tmp_path,
                                                    "--out", tmp_path / "s"])
    assert "no annotated impact" in error_line(capsys, base[:-1] + ["5", "--out", tmp_path / "s"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing half-made is left


def test_serve_prints_its_token_and_refuses_a_busy_port(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "cannot listen" in error_line(capsys, ["serve", "--port", port, "--studies", tmp_path])
    proc = subprocess.Popen([sys.executable, "-m", "vis", "serve", "--port", str(port), "--studies", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        token = lines[0].split("admin token ")[1].strip()
        assert f"http://127.0.0.1:{port}/" in lines[1] and f"/admin?token={token}" in lines[2]
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/admin/api/studies", headers=auth)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["studies"] == [] and not r.json()["can_create"]
        assert httpx.get(f"http://127.0.0.1:{port}/admin/api/studies").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
