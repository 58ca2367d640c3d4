"""Faults, round three (issue 24): options checked alike on every command, outputs that would destroy an input or
another output, user text files that are not UTF-8, bad split and annotation data, still images, leftovers and
messages. Each refusal is one line ``vis: error: ...``, exit status 2, and nothing is written."""

import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TINY_IDS, clicks
from vis.cli import main
from vis.data.io import write_wav
from vis.data.paths import check_outputs, read_text
from vis.errors import VisError
from vis.eval.proxy import load_study


def run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's refusals
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, needles=()):
    code, out, err = run(capsys, *argv)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("vis:")]  # not the progress bars
    assert code == 2 and len(lines) == 1 and lines[-1].startswith("vis: error: "), (argv, err)
    assert err.strip().splitlines()[-1] == lines[-1], err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[-1], (n, lines[-1])
    return lines[-1]


@pytest.fixture
def data(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- 1. options

BAD_OPTIONS = [
    (["synth", "{d}", "--videos", "0"], "--videos 0"),
    (["synth", "{d}", "--videos", "-1", "--real-schedules"], "--videos -1"),
    (["synth", "{d}", "--videos", "10000000000000"], "--videos 10000000000000"),
    (["synth", "{d}", "--materials", ""], "--materials ''"),
    (["synth", "{d}", "--materials", "wood,,metal"], "--materials"),
    (["synth", "{d}", "--materials", "wood,wood"], "given twice"),
    (["synth", "{d}", "--seconds", "0"], "--seconds 0"),
    (["synth", "{d}", "--seconds", "nan"], "--seconds nan"),
    (["synth", "{d}", "--seconds", "1e12"], "--seconds"),
    (["synth", "{d}", "--workers", "0"], "--workers 0"),
    (["synth", "{d}", "--seed", "-1"], "--seed -1"),
    (["synth", "{d}", "--size", "0x0"], "--size 0x0"),
    (["prepare", "{d}", "--workers", "0"], "--workers 0"),
    (["prepare", "{d}", "--size", "100000x100000"], "--size 100000x100000"),
    (["prepare", "{d}", "--size", "1x1"], "--size 1x1"),
    (["prepare", "{d}", "--size=-4x8"], "--size -4x8"),
    (["train", "{d}", "--out", "{o}", "--epochs", "0"], "--epochs 0"),
    (["train", "{d}", "--out", "{o}", "--batch-size", "-2"], "--batch-size -2"),
    (["train", "{d}", "--out", "{o}", "--threads", "0"], "--threads 0"),
    (["train", "{d}", "--out", "{o}", "--loader-workers", "-1"], "--loader-workers -1"),
    (["train", "{d}", "--out", ""], "empty path"),
    (["evaluate", "{d}", "--model", "{o}", "--methods", ""], "--methods ''"),
    (["demo", "--out", "{o}", "--workers", "0"], "--workers 0"),
    (["serve", "--port", "99999"], "--port 99999"),
    (["serve", "--port", "-1"], "--port -1"),
    (["serve", "--port", "0"], "--port 0"),
    (["serve", "--join-limit", "0"], "--join-limit 0"),
    (["serve", "--upload-limit", "-3"], "--upload-limit -3"),
    (["study", "create", "{d}", "--model", "{o}", "--out", "{o}x", "--trials", "0"], "--trials 0"),
    (["study", "create", "{d}", "--model", "{o}", "--out", "{o}x", "--clip", "-1"], "--clip -1"),
    (["study", "create", "{d}", "--model", "{o}", "--out", "{o}x", "--per-video", "0"], "--per-video 0"),
    (["study", "create", "{d}", "--model", "{o}", "--out", "{o}x", "--methods", ","], "--methods ','"),
    (["info", "{d}", "--seed", "-5"], "--seed -5"),
    (["synth", "{d}", "--videos", "two"], "--videos"),  # argparse's own refusals are one line too
]


@pytest.mark.parametrize("argv, needle", BAD_OPTIONS, ids=[" ".join(a[:1] + a[2:]) for a, _ in BAD_OPTIONS])
def test_every_numeric_and_list_option_is_checked_before_any_work(tmp_path, capsys, argv, needle):
    d, o = tmp_path / "d", tmp_path / "o"
    refused(capsys, *[a.format(d=d, o=o) for a in argv], needles=[needle])
    assert list(tmp_path.iterdir()) == []  # nothing made: no dataset, no run folder, no cache


def test_a_folder_option_given_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("kept")
    for argv, flag in ((["prepare", tmp_path, "--cache", tmp_path / "f"], "--cache"),
                       (["synth", tmp_path / "f"], "OUT"),
                       (["serve", "--studies", tmp_path / "f"], "--studies"),
                       (["evaluate", tmp_path, "--model", tmp_path, "--out", tmp_path / "f"], "--out")):
        refused(capsys, *argv, needles=[f"{tmp_path / 'f'}: {flag} is a file; give a folder"])
    assert (tmp_path / "f").read_text() == "kept"


# ---------------------------------------------------------------------------------------------- 2. collisions


@pytest.fixture
def wav(tmp_path):
    write_wav(tmp_path / "in.wav", clicks([0.5], 1.0, sr=48_000), 48_000)
    return tmp_path / "in.wav"


def test_an_output_that_is_an_input_or_another_output_is_refused_before_work(wav, tmp_path, tiny_data, tiny_run,
                                                                               capsys):
    video = tmp_path / "v.mp4"
    shutil.copy(tiny_data / f"{TINY_IDS[0]}_denoised.mp4", video)
    runs = snapshot(tiny_run)
    refused(capsys, "cochleagram", wav, "-o", wav, needles=[str(wav), "-o", "input"])
    refused(capsys, "cochleagram", wav, "-o", tmp_path / "c.npy", "--png", wav, needles=["--png", "input"])
    refused(capsys, "cochleagram", wav, "-o", tmp_path / "x.npy", "--png", tmp_path / "x.npy",
            needles=["both -o and --png"])
    refused(capsys, "cochleagram", wav, "-o", tmp_path / "c.npy", "--png", tmp_path / "p.jpg",
            needles=["p.jpg", ".png"])
    os.link(wav, tmp_path / "hard.wav")  # another name of the same file
    before = snapshot(tmp_path)
    refused(capsys, "cochleagram", wav, "-o", tmp_path / "hard.wav", needles=["hard.wav"])
    refused(capsys, "predict", video, "--model", tiny_run, "-o", tmp_path / "x.mp4", "--png", tmp_path / "x.mp4",
            needles=["both"])
    refused(capsys, "predict", video, "--model", tiny_run, "-o", tmp_path / "o.mp4", "--wav", video, needles=["--wav"])
    refused(capsys, "predict", video, "--model", tiny_run, "-o", tmp_path / "o.mp4", "--png", tiny_run / "curves.png",
            needles=["curves.png", "--model"])
    refused(capsys, "evaluate", tiny_data, "--model", tiny_run, "--out", tiny_run, needles=["--out"])
    assert snapshot(tmp_path) == before and snapshot(tiny_run) == runs
    assert check_outputs([("INPUT", None)], [("-o", None)]) is None  # nothing given, nothing to refuse


SUITE = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SUITE
@given(command=st.sampled_from(["cochleagram", "predict"]), data=st.data())
def test_outputs_colliding_with_inputs_or_each_other_change_nothing_and_write_nothing(
        tmp_path_factory, capsys, command, data):
    """A drawn command line whose outputs collide with an input or with each other: exit 2, one line, every
    input byte for byte as it was, and no new file."""
    root = tmp_path_factory.mktemp("collide")
    write_wav(root / "in.wav", clicks([0.5], 1.0, sr=48_000), 48_000)
    (root / "run").mkdir()
    (root / "run" / "model.pt").write_bytes(b"not used")
    (root / "run" / "curves.png").write_bytes(b"kept")
    (root / "v.mp4").write_bytes(b"a video")
    inputs = {"cochleagram": ["in.wav"], "predict": ["v.mp4", "run/model.pt", "run/curves.png"]}[command]
    flags = {"cochleagram": ["-o", "--png"], "predict": ["-o", "--wav", "--png"]}[command]
    fresh = ["a.npy", "b.png", "c.mp4", "d.wav", "e.flac"]
    names = {f: data.draw(st.sampled_from(inputs + fresh), label=f) for f in flags}
    collide = data.draw(st.sampled_from([(f, x) for f in flags for x in inputs + [None]]))
    if collide[1] is None:  # two outputs with one name
        a, b = data.draw(st.permutations(flags))[:2]
        names[b] = names[a]
    else:
        names[collide[0]] = collide[1]
    first = "in.wav" if command == "cochleagram" else "v.mp4"
    argv = [command, root / first] + (["--model", root / "run"] if command == "predict" else [])
    for f, name in names.items():
        argv += [f, root / name]
    before = snapshot(root)
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("vis: error: "), (argv, err)
    assert snapshot(root) == before, argv


# ---------------------------------------------------------------------------------------------- 3. tracebacks


def test_text_files_that_are_not_utf8_are_one_line_naming_file_and_line(data, tmp_path, capsys):
    (tmp_path / "bad.toml").write_bytes(b"[train]\nepochs = 1 # caf\xe9\n")
    refused(capsys, "train", data, "--out", tmp_path / "r", "--config", tmp_path / "bad.toml",
            needles=["bad.toml:2", "not UTF-8"])
    split = tmp_path / "split"
    split.mkdir()
    (split / "train.txt").write_bytes(("\n".join(TINY_IDS[:3]) + "\n\xff\n").encode("latin-1"))
    (split / "test.txt").write_text(TINY_IDS[3] + "\n")
    refused(capsys, "info", data, "--split", split, needles=["train.txt:4", "not UTF-8"])
    (data / f"{TINY_IDS[0]}_times.txt").write_bytes(b"0.5 wood hit static\n0.9 m\xe9tal hit static\n")
    with pytest.raises(VisError, match="_times.txt:2: the annotation file is not UTF-8"):
        read_text(data / f"{TINY_IDS[0]}_times.txt", what="annotation file")
    for name, content in (("s.json", b'{"full": 0.5, "caf\xe9": 0.2}'), ("s.csv", b"method,chosen_real\n\xe9,0.1\n")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(VisError, match=f"{name}:[12]: the study results file is not UTF-8"):
            load_study(tmp_path / name)
