"""Faults a user can cause: damaged media, leftovers of failed or killed commands, messages on their own line."""

import json
import os
import shutil
import subprocess
import sys
import warnings

import av
import numpy as np
import pytest

from tests.conftest import TINY_IDS, clicks
from vis.cli import main
from vis.data.io import atomic_output, read_audio, remove_stale_temporaries, write_wav
from vis.data.media import read_frames
from vis.errors import ShortMedia, VisError


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def faststart_mp4(path, seconds: float = 4.0, *, fps: int = 30, sr: int = 48_000) -> None:
    """A video with sound whose header (moov) comes first, as streamed mp4s have: truncated, it still opens."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream("aac", rate=sr)
        for _ in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        audio = (0.1 * rng.standard_normal((1, int(seconds * sr)))).astype(np.float32)
        for k in range(0, audio.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(audio[:, k : k + 1024], format="fltp", layout="mono")
            frame.sample_rate = sr
            out.mux(aus.encode(frame))
        out.mux(aus.encode())


def truncate(path, share: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


def short_warnings(fn, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, ShortMedia)]


def test_truncated_media_are_read_as_far_as_they_go_with_one_warning(tmp_path):
    write_wav(tmp_path / "a.wav", clicks([0.5], 4.0, sr=48_000), 48_000)
    faststart_mp4(tmp_path / "v.mp4")
    assert short_warnings(read_audio, tmp_path / "a.wav") == []  # complete files: no warning
    assert short_warnings(read_audio, tmp_path / "v.mp4") == []
    assert short_warnings(read_frames, tmp_path / "v.mp4", size=(32, 24), fps=30) == []
    truncate(tmp_path / "a.wav", 0.3)
    truncate(tmp_path / "v.mp4", 0.3)
    [w] = short_warnings(read_audio, tmp_path / "a.wav")
    assert "a.wav: only 1.20 s of the 4.00 s" in w
    for fn, kw in ((read_audio, {}), (read_frames, {"size": (32, 24), "fps": 30})):
        [w] = short_warnings(fn, tmp_path / "v.mp4", **kw)
        used, declared = float(w.split("only ")[1].split(" s")[0]), float(w.split("of the ")[1].split(" s")[0])
        assert str(tmp_path / "v.mp4") in w and used < 2.5 and abs(declared - 4.0) < 0.1, w


def test_strict_turns_a_short_file_into_an_error_and_nothing_is_written(tmp_path, capsys):
    write_wav(tmp_path / "a.wav", clicks([0.5], 4.0, sr=48_000), 48_000)
    truncate(tmp_path / "a.wav", 0.3)
    code, _, err = run(capsys, "cochleagram", tmp_path / "a.wav", "-o", tmp_path / "c.npy")
    assert code == 0 and err.count("vis: warning:") == 1 and "--strict makes this an error" in err
    (tmp_path / "c.npy").unlink()
    code, _, err = run(capsys, "cochleagram", tmp_path / "a.wav", "-o", tmp_path / "c.npy", "--strict")
    assert code == 2 and err.strip().startswith("vis: error:") and "a.wav: only 1.20 s" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "c.npy").exists()


def test_a_short_file_in_a_dataset_is_warned_about_on_every_run_and_refused_with_strict(tiny_data, tmp_path,
                                                                                         capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    wav = data / f"{TINY_IDS[1]}_denoised.wav"
    truncate(wav, 0.5)
    for _ in range(2):  # the second run takes the sound from the cache, and still says the file is short
        code, _, err = run(capsys, "prepare", data, "--cache", tmp_path / "c")
        assert code == 0 and err.count(f"{wav}: only") == 1, err
    code, _, err = run(capsys, "prepare", data, "--cache", tmp_path / "c", "--strict")
    assert code == 2 and f"{wav}: only" in err and "Traceback" not in err
    code, _, err = run(capsys, "prepare", data, "--cache", tmp_path / "c", "--strict", "--skip-broken")
    assert code == 0 and f"{wav}: only" in err  # skipped as a broken id


def test_stale_temporaries_of_killed_writers_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".model.pt.{dead}.ab12cd34.pt"
    live = tmp_path / f".model.pt.{os.getpid()}.ef56gh78.pt"
    other = tmp_path / f".state.pt.{dead}.ab12cd34.pt"
    for p in (stale, live, other):
        p.write_bytes(b"")
    with atomic_output(tmp_path / "model.pt") as tmp:
        assert tmp.name.startswith(f".model.pt.{os.getpid()}.")
        tmp.write_bytes(b"x")
    assert not stale.exists() and live.exists() and other.exists()
    assert remove_stale_temporaries(tmp_path) == [other] and live.exists()


def test_a_kill_during_training_leaves_no_temporary_after_resume(tiny_data, tmp_path):
    from tests.conftest import TINY_CONFIG

    (tmp_path / "c.toml").write_text(TINY_CONFIG)
    argv = ["train", str(tiny_data), "--out", str(tmp_path / "run"), "--config", str(tmp_path / "c.toml"),
            "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "run" / f".model.pt.{dead}.ab12cd34.pt").write_bytes(b"")  # what kill -9 in a save leaves
    assert main(argv + ["--resume"]) == 0
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


def test_outputs_name_the_users_path_never_a_temporary(tmp_path):
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(VisError, match=r"folder.npy: is a folder"), atomic_output(tmp_path / "folder.npy"):
        pass
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(VisError, match=rf"^{ro / 'x.npy'}: cannot write"), atomic_output(ro / "x.npy"):
            pass


def test_a_failed_command_leaves_nothing_it_created(tiny_data, tiny_run, tmp_path, capsys):
    wav = tmp_path / "a.wav"
    write_wav(wav, clicks([0.5], 1.0, sr=48_000), 48_000)
    code, _, _ = run(capsys, "cochleagram", wav, "-o", tmp_path / "a.npy", "--png", tmp_path / "bad" / "x.png")
    assert code == 2 and not (tmp_path / "a.npy").exists()  # the figure failed: no .npy either
    code, _, _ = run(capsys, "evaluate", tiny_data, "--model", tmp_path / "no-model", "--out", tmp_path / "rep")
    assert code == 2 and not (tmp_path / "rep").exists()
    code, _, err = run(capsys, "train", tiny_data, "--out", tmp_path / "r", "--resume")
    assert code == 2 and not (tmp_path / "r").exists(), err
    keep = tmp_path / "kept"
    keep.mkdir()
    code, _, _ = run(capsys, "evaluate", tiny_data, "--model", tmp_path / "no-model", "--out", keep)
    assert code == 2 and keep.is_dir()  # a folder that was there before stays


def test_bad_audio_is_refused_naming_the_file(tmp_path, capsys):
    x = clicks([0.5], 1.0, sr=48_000)
    x[30_000] = np.nan
    import soundfile as sf

    sf.write(tmp_path / "nan.wav", x, 48_000, subtype="FLOAT")
    code, _, err = run(capsys, "cochleagram", tmp_path / "nan.wav", "-o", tmp_path / "n.npy")
    assert code == 2 and f"{tmp_path / 'nan.wav'}: audio has a NaN or infinite sample (at 0.625 s)" in err
    write_wav(tmp_path / "low.wav", clicks([0.5], 1.0, sr=8000), 8000)
    code, _, err = run(capsys, "onsets", tmp_path / "low.wav")
    assert code == 2 and f"{tmp_path / 'low.wav'}: sample rate 8000 Hz is below the 20000 Hz needed" in err


def test_an_error_during_a_progress_bar_starts_its_own_line(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    (data / f"{TINY_IDS[2]}_denoised.mp4").write_bytes(b"not a video")
    r = subprocess.run([sys.executable, "-m", "vis", "prepare", str(data), "--cache", str(tmp_path / "c")],
                       capture_output=True, text=True)
    lines = [line for line in r.stderr.split("\n") if "vis: error:" in line]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("vis: error:"), r.stderr
    assert "prepare" in r.stderr  # a bar was showing


def test_info_says_when_videos_are_broken(tiny_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    assert run(capsys, "info", data)[0] == 0
    (data / f"{TINY_IDS[0]}_times.txt").write_text("oops\n")
    code, out, _ = run(capsys, "info", data, "--json")
    assert code == 1 and TINY_IDS[0] in json.loads(out)["broken"]


def test_info_on_the_files_training_needs_is_a_note_not_broken(tiny_data, tmp_path, capsys):
    # a folder with only video, wav and times (as ../shared/realgh's make_layout.py writes): exit 0, one note
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    for pattern in ("*_denoised_thumb.mp4", "*_mic.mp4", "*_mic.wav"):
        for p in data.glob(pattern):
            p.unlink()
    code, out, _ = run(capsys, "info", data)
    assert code == 0, out
    notes = [line for line in out.splitlines() if line.startswith("note: optional files absent")]
    assert len(notes) == 1 and "mic.wav" in notes[0] and "broken" not in out


def test_ctrl_c_in_synth_exits_130_says_what_is_kept_and_the_same_command_goes_on(tmp_path):
    import signal
    import time

    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "vis", "synth", str(out), "--videos", "6", "--seconds", "2", "--size", "64x36"]
    err_path = tmp_path / "stderr.txt"  # a file, not a pipe: a full pipe would block synth while we poll
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(err_path, "w"))
    deadline = time.time() + 120
    while not list(out.glob("*_times.txt")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    err = err_path.read_text()
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 130 and last.startswith("vis: interrupted: the finished videos are kept"), err
    assert "Traceback" not in err
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert len(list(out.glob("*_times.txt"))) == 6 and not list(out.glob(".*"))
