"""Faults, round three (issue 24), continued: bad split and annotation data, still images, leftovers of failed
commands, and messages (temporary names, no path, broken pipes, torch's text, finished and unsaved runs)."""

import errno
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
from fastapi import HTTPException

import vis.train
from tests.conftest import TINY_IDS, clicks
from tests.test_refusals import refused, run
from vis.data.io import atomic_output, write_wav
from vis.data.paths import user_path, user_text
from vis.errors import VisError
from vis.plots import save_cochleagram_png
from vis.web.jobs import check_name
from vis.web.sounds import check_video


@pytest.fixture
def data(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


# ---------------------------------------------------------------------------------------------- 4. bad data


def test_an_id_in_two_splits_is_an_error_and_an_id_listed_twice_a_warning(data, capsys):
    (data / "test.txt").write_text(f"{TINY_IDS[3]}\n{TINY_IDS[0]}\n")  # TINY_IDS[0] is in train.txt too
    refused(capsys, "info", data, needles=["test.txt:2", TINY_IDS[0], "train.txt:1", "inflated"])
    (data / "test.txt").write_text(f"{TINY_IDS[3]}\n")
    (data / "train.txt").write_text("\n".join(TINY_IDS[:3] + TINY_IDS[1:2]) + "\n")
    code, out, err = run(capsys, "info", data)
    assert code == 0 and "train 3, test 1" in out
    assert err.count("vis: warning:") == 1 and "train.txt:4" in err and "listed twice (first on line 2)" in err


@pytest.mark.parametrize("times, needle", [
    ("inf wood hit static\n", ":1: time inf must be a finite number"),
    ("nan wood hit static\n", ":1: time nan must be a finite number"),
    ("400 wood hit static\n1000 None scratch None\n", ":1: time 400 s is past the end of the recording (1.50 s); "
     "the times look like milliseconds"),
    ("0.4 wood hit static\n9 wood hit static\n12 wood hit static\n", ":2: time 9 s is past the end of the recording "
     "(1.50 s), as are 2 of its 3 events"),
])
def test_event_times_that_cannot_be_used_are_file_line_errors(data, tmp_path, capsys, times, needle):
    (data / f"{TINY_IDS[0]}_times.txt").write_text(times)
    refused(capsys, "prepare", data, "--cache", tmp_path / "cache", needles=[f"{TINY_IDS[0]}_times.txt{needle}"])
    assert not (tmp_path / "cache").exists()  # nothing cached, not even an empty folder


def test_a_few_events_past_the_end_are_left_out_with_a_warning(data, tmp_path, capsys):
    (data / f"{TINY_IDS[0]}_times.txt").write_text("0.4 wood hit static\n1.0 None scratch None\n30 wood hit static\n")
    for _ in range(2):  # computed, then from the cache: the warning both times
        code, _, err = run(capsys, "prepare", data, "--cache", tmp_path / "cache")
        assert code == 0 and err.count("vis: warning:") == 1, err
        assert f"{TINY_IDS[0]}_times.txt:3: time 30 s is past the end" in err
        assert "1 of its 3 events past the end is left out" in err
    with np.load(tmp_path / "cache" / f"{TINY_IDS[0]}.sound.npz") as z:
        assert list(z["event_times"]) == [0.4, 1.0]
    refused(capsys, "prepare", data, "--cache", tmp_path / "cache", "--strict", needles=["_times.txt:3"])


# ---------------------------------------------------------------------------------------------- 5. images


def still_image(path, codec: str) -> None:
    with av.open(str(path), "w", format="image2") as out:
        s = out.add_stream(codec)
        s.width, s.height, s.pix_fmt = 64, 48, "rgb24" if codec == "png" else "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100, np.uint8), format="rgb24")
        for p in s.encode(frame.reformat(format=s.pix_fmt)):
            out.mux(p)
        for p in s.encode():
            out.mux(p)


@pytest.mark.parametrize("name, codec", [("image.png", "png"), ("photo.jpg", "mjpeg"), ("disguised.mp4", "png")])
def test_a_still_image_is_not_a_video_for_predict_and_the_demo_alike(tiny_run, tmp_path, capsys, name, codec):
    still_image(tmp_path / name, codec)
    line = refused(capsys, "predict", tmp_path / name, "--model", tiny_run, "-o", tmp_path / "out.mp4",
                   needles=["a still image, not a video"])
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises((HTTPException, VisError)) as caught:
        check_name(name)
        check_video(tmp_path / name, name=name)
    words = getattr(caught.value, "detail", None) or str(caught.value)
    assert line == f"vis: error: {tmp_path / name}: " + words.split(": ", 1)[1]  # the same words


# ---------------------------------------------------------------------------------------------- 6. leftovers


def test_a_failed_prepare_or_train_leaves_no_folder_it_made(data, tiny_run, tmp_path, capsys, monkeypatch):
    wav = data / f"{TINY_IDS[0]}_denoised.wav"
    good = wav.read_bytes()
    wav.write_bytes(b"not a wav")  # the first video fails
    refused(capsys, "prepare", data, "--cache", tmp_path / "cache", needles=["_denoised.wav"])
    assert not (tmp_path / "cache").exists()
    wav.write_bytes(good)
    refused(capsys, "prepare", data, "--cache", tmp_path / "cache2", "--size", "1x1", needles=["--size 1x1"])
    assert not (tmp_path / "cache2").exists()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a write fails: no file name

    monkeypatch.setattr(vis.train, "save_atomic", full_disk)
    line = refused(capsys, "train", data, "--out", tmp_path / "run", "--config", tiny_run.parent / "tiny.toml",
                   "--cache", tmp_path / "c", needles=["No space left on device"])
    assert line.startswith(f"vis: error: {tmp_path / 'run'}: ")  # the run folder, not ': No space'
    assert not (tmp_path / "run").exists()  # no config.toml, no log.jsonl left behind


# ---------------------------------------------------------------------------------------------- 7. messages


def test_messages_name_the_users_path_never_a_temporary(tmp_path):
    assert user_path("/d/.x.png.1234.tmp") == "/d/x.png"
    assert user_path("/d/.x.csv.99.tmp") == "/d/x.csv"
    assert user_path("/d/.st.building-4321/clips/a.mp4") == "/d/st/clips/a.mp4"
    assert user_path("/d/.m.npy.77.a1b2c3d4.npy") == "/d/m.npy"
    assert user_path("/d/.hidden/ok.txt") == "/d/.hidden/ok.txt"
    assert user_text("/d/.st.building-4321/clips/.a.mp4.12.k2j4h5g6.mp4: cannot write (No space left on device)") == \
        "/d/st/clips/a.mp4: cannot write (No space left on device)"
    assert user_text("'/d/.x.png.5.tmp' and .hidden/.x.y and v1.2.3") == "'/d/x.png' and .hidden/.x.y and v1.2.3"
    with pytest.raises(VisError, match=rf"^{tmp_path / 'x.npy'}: cannot write \(No space left on device\)$"):
        with atomic_output(tmp_path / "x.npy"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(VisError, match="p.jpg: a figure is written as PNG"):
        save_cochleagram_png(tmp_path / "p.jpg", np.zeros((10, 42), np.float32), np.arange(10) / 90)


def test_a_closed_pipe_ends_quietly(tmp_path):
    write_wav(tmp_path / "ok.wav", clicks([0.2 * i for i in range(1, 40)], 9.0, sr=48_000), 48_000)
    p = subprocess.Popen([sys.executable, "-m", "vis", "onsets", str(tmp_path / "ok.wav")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader leaves before the first line, as `| true` does
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err, err


def test_split_weights_and_runs_messages(data, tiny_data, tiny_run, tmp_path, capsys, monkeypatch):
    write_wav(tmp_path / "ok.wav", clicks([0.5], 1.0, sr=48_000), 48_000)
    refused(capsys, "info", data, "--split", tmp_path / "ok.wav",
            needles=[f"{tmp_path / 'ok.wav'}: not a split folder"])
    (tmp_path / "w.pth").write_bytes(b"PK\x03\x04 not torch")
    refused(capsys, "train", data, "--out", tmp_path / "r", "--backbone", "alexnet", "--frozen",
            "--weights", tmp_path / "w.pth",
            needles=["w.pth: cannot load AlexNet weights"])
    assert not (tmp_path / "r").exists()
    run_copy = tmp_path / "done"
    shutil.copytree(tiny_run, run_copy)
    config = tiny_run.parent / "tiny.toml"
    code, out, err = run(capsys, "train", tiny_data, "--out", run_copy, "--config", config, "--resume",
                         "--cache", tiny_run.parent / "cache")
    assert code == 0 and "nothing to train" in out and "nan" not in out, out + err

    def interrupted(*args, **kwargs):  # a second Ctrl-C during the first step: nothing was saved yet
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(vis.train, "step_loader", interrupted)
    code, _, err = run(capsys, "train", tiny_data, "--out", tmp_path / "new", "--config", config,
                       "--cache", tiny_run.parent / "cache")
    assert code == 130 and "before the first save" in err and "--resume" not in err.replace("without --resume", "")
