"""The dataset layer: discovery, splits and annotation parsing on a tiny dataset in the real layout."""

import shutil

import pytest

from tests.conftest import TINY_IDS
from vis.data.dataset import Dataset, Event, discover, random_split, read_times, summarize, write_times
from vis.errors import VisError


@pytest.fixture
def data(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def test_discovery_and_official_split(tiny_data):
    found = discover(tiny_data)
    assert sorted(found) == sorted(TINY_IDS)
    assert all(len(files) == 6 for files in found.values())
    ds = Dataset.open(tiny_data)
    assert ds.split("train") == list(TINY_IDS[:3]) and ds.split("test") == [TINY_IDS[3]]
    assert ds.video_path(TINY_IDS[0]).name.endswith("_denoised.mp4")
    assert Dataset.open(tiny_data, video="thumb", audio="mic").audio_path(TINY_IDS[0]).name.endswith("_mic.wav")


def test_random_split_is_seeded_video_level_75_25():
    ids = [f"2015-01-01-00-00-{i:02d}" for i in range(40)]
    a, b = random_split(ids, seed=3), random_split(ids, seed=3)
    assert a == b and len(a["test"]) == 10 and set(a["train"]) | set(a["test"]) == set(ids)
    assert not set(a["train"]) & set(a["test"])
    assert random_split(ids, seed=4) != a


def test_no_split_files_gives_seeded_split(data):
    (data / "train.txt").unlink()
    (data / "test.txt").unlink()
    ds = Dataset.open(data, seed=1)
    assert ds.split_source.startswith("random") and len(ds.split("test")) == 1


def test_user_split_folder_and_unknown_ids(data, tmp_path):
    folder = tmp_path / "mysplit"
    folder.mkdir()
    (folder / "train.txt").write_text(f"{TINY_IDS[1]}\n\n{TINY_IDS[2]}\n")
    (folder / "valid.txt").write_text(f"{TINY_IDS[3]}\n")
    (folder / "test.txt").write_text(f"{TINY_IDS[0]}\n")
    ds = Dataset.open(data, split=folder)
    assert ds.split("test") == [TINY_IDS[0]] and ds.split("val") == [TINY_IDS[3]]
    (folder / "test.txt").write_text(f"{TINY_IDS[0]}\n2099-01-01-00-00-00\n")
    with pytest.raises(VisError, match=r"test.txt:2: unknown video id"):
        Dataset.open(data, split=folder)


def test_shipped_named_splits_filter_to_present_ids(data):
    ds = Dataset.open(data, split="condfoleygen")
    assert ds.splits["train"] == [] and ds.splits["test"] == []  # tiny ids are not real ids


def test_parse_times_tolerant_and_sorted(tmp_path):
    p = tmp_path / "x_times.txt"
    p.write_text("\n  2.5   wood  hit static \n\n0.75 None scratch None\n1.0 metal hit\n")
    ev = read_times(p)
    assert [e.time for e in ev] == [0.75, 1.0, 2.5]
    assert ev[0] == Event(0.75, None, "scratch", None)
    assert ev[1].reaction is None and ev[2].material == "wood"
    assert ev[2].label("hardness") == "hard" and ev[0].label("hardness") is None


@pytest.mark.parametrize("line,why", [("abc wood hit static", "not a number"),
                                      ("1.0 wood hit static extra", "5 fields"),
                                      ("-1 wood hit static", ">= 0"), ("nan wood hit static", ">= 0")])
def test_malformed_line_names_file_and_line(tmp_path, line, why):
    p = tmp_path / "x_times.txt"
    p.write_text(f"0.5 wood hit static\n{line}\n")
    with pytest.raises(VisError, match=rf"x_times.txt:2: .*{why}"):
        read_times(p)


def test_times_round_trip(tmp_path):
    ev = [Event(1.25, "metal", "hit", "static"), Event(0.5, None, None, None)]
    write_times(tmp_path / "a_times.txt", ev)
    assert read_times(tmp_path / "a_times.txt") == sorted(ev, key=lambda e: e.time)


def test_missing_file_error_and_skip_broken(data):
    (data / f"{TINY_IDS[1]}_denoised.wav").unlink()
    with pytest.raises(VisError, match=f"{TINY_IDS[1]}_denoised.wav: missing"):
        Dataset.open(data)
    with pytest.warns(UserWarning, match="missing"):
        ds = Dataset.open(data, skip_broken=True)
    assert TINY_IDS[1] not in ds.ids and TINY_IDS[1] not in ds.split("train")


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(VisError, match="no Greatest Hits videos"):
        Dataset.open(tmp_path)


def test_summary_counts_and_broken(data):
    (data / f"{TINY_IDS[2]}_mic.mp4").unlink()
    (data / f"{TINY_IDS[0]}_denoised.mp4").write_bytes(b"not a video")
    info = summarize(Dataset.open(data))
    assert info["ids"] == 4 and info["splits"] == {"train": 3, "test": 1}
    assert info["missing"] == {TINY_IDS[2]: ["mic.mp4"]}
    assert list(info["broken"]) == [TINY_IDS[0]]
    assert info["events"] == 6 and info["unlabelled_events"] == 3
    assert info["material"] == {"wood": 3, "None": 3}
    assert info["duration_s"] == pytest.approx(4.5, abs=0.2)
    assert Dataset.open(data).vocabulary("material") == ["wood"]
