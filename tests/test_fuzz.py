"""Property-based fuzzing of what users hand to vis: annotation files, split files, TOML configs and media files
(truncated, with flipped bytes, under the wrong extension). Every input is read, or refused with one line
(VisError, exit 2); never a traceback or a hang. The corpus here is small and seeded; `benchmarks/fuzz.py` runs
the same properties longer."""

import os
import shutil
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TINY_IDS
from vis.cli import main
from vis.config import load_config
from vis.data.dataset import read_times
from vis.data.io import read_audio
from vis.data.media import probe, read_frames
from vis.errors import ShortMedia, VisError

# In the suite: 40 seeded cases per property. benchmarks/fuzz.py sets VIS_FUZZ_EXAMPLES for a longer, random run.
LONG_RUN = int(os.environ.get("VIS_FUZZ_EXAMPLES", "0"))
SUITE = settings(max_examples=LONG_RUN or 40, deadline=None, derandomize=not LONG_RUN, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

WORDS = ["0.5", "1e3", "-2", "nan", "inf", "wood", "metal", "hit", "scratch", "static", "rattle", "None", "",
         "\t", "  ", "2015-02-16-16-49-06", "é", "\x00"]
line = st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=6).map(" ".join)
text_file = st.lists(line, max_size=8).map("\n".join)


def refused_or_read(fn, *args, **kwargs):
    """Call fn: a result, or a one-line VisError; any other exception fails the property."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortMedia)
        try:
            return fn(*args, **kwargs)
        except VisError as e:
            assert "\n" not in str(e) and str(e), repr(e)
            return None


def cli(capsys, *argv) -> int:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("vis: error:"), err
    return code


@SUITE
@given(content=text_file | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_times_files(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("t") / "x_times.txt"
    path.write_text(content, encoding="utf-8", errors="surrogateescape")
    events = refused_or_read(read_times, path)
    if events is not None:
        assert all(np.isfinite(e.time) and e.time >= 0 for e in events)
        assert [e.time for e in events] == sorted(e.time for e in events)


@SUITE
@given(train=st.lists(st.sampled_from(list(TINY_IDS) + ["", " ", "#", "2099-01-01-00-00-00", "x"]), max_size=6),
       test=st.lists(st.sampled_from(list(TINY_IDS) + ["", "zz"]), max_size=4))
def test_split_files(tiny_data, tmp_path_factory, capsys, train, test):
    data = tmp_path_factory.mktemp("d") / "data"
    data.mkdir()
    for p in tiny_data.glob("*_times.txt"):  # `info` reads the listing and the annotations; media are symlinked
        shutil.copy(p, data / p.name)
    for p in tiny_data.iterdir():
        if not (data / p.name).exists() and not p.name.endswith(".txt"):
            (data / p.name).symlink_to(p)
    (data / "train.txt").write_text("\n".join(train))
    (data / "test.txt").write_text("\n".join(test))
    assert cli(capsys, "info", data) in (0, 1, 2)


toml_value = st.recursive(st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.booleans()
                          | st.sampled_from(["small", "none", "paper", "squared", "robust", "detection", ""]),
                          lambda v: st.lists(v, max_size=3), max_leaves=4)
keys = st.sampled_from(["backbone", "image_size", "feat_dim", "hidden", "epochs", "batch_size", "lr", "loss",
                        "task", "spacetime", "pca_dim", "seed", "nope", "lag"])


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return str(v)


@SUITE
@given(model=st.dictionaries(keys, toml_value, max_size=4), train=st.dictionaries(keys, toml_value, max_size=4),
       junk=st.sampled_from(["", "[other]\nx = 1\n", "not toml = = =\n", "[model\n"]))
def test_toml_configs(tmp_path_factory, model, train, junk):
    text = "[model]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in model.items())
    text += "[train]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in train.items()) + junk
    path = tmp_path_factory.mktemp("c") / "run.toml"
    path.write_text(text)
    refused_or_read(load_config, path)


@pytest.fixture(scope="module")
def media(tiny_data) -> dict[str, bytes]:
    vid = TINY_IDS[0]
    return {"mp4": (tiny_data / f"{vid}_denoised.mp4").read_bytes(),
            "wav": (tiny_data / f"{vid}_denoised.wav").read_bytes()}


def mutate(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    b = bytearray(data[: max(0, int(len(data) * cut))])
    for where, value in flips:
        if b:
            b[int(where * (len(b) - 1))] = value
    return bytes(b)


@SUITE
@given(kind=st.sampled_from(["mp4", "wav"]), ext=st.sampled_from([".mp4", ".wav", ".mov", ".txt"]),
       cut=st.sampled_from([1.0, 0.999, 0.9, 0.5, 0.1, 0.01, 0.0]) | st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_media_files(media, tmp_path_factory, kind, ext, cut, flips):
    path = tmp_path_factory.mktemp("m") / f"x{ext}"
    path.write_bytes(mutate(media[kind], cut, flips))
    refused_or_read(probe, path)
    audio = refused_or_read(read_audio, path)
    if audio is not None:
        assert np.isfinite(audio[0]).all() and audio[1] > 0
    frames = refused_or_read(read_frames, path, size=(32, 24), fps=30)
    if frames is not None:
        assert frames[0].shape[1:] == (24, 32, 3)
