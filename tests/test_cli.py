"""The command line: `vis info` and the bad-input contract (one line, exit 2, no traceback)."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import TINY_IDS
from vis.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_keys(tiny_data, capsys):
    code, out, _ = run(capsys, "info", tiny_data, "--json")
    assert code == 0
    info = json.loads(out)
    for key in ("root", "split_source", "ids", "splits", "duration_s", "events", "unlabelled_events",
                "material", "action", "reaction", "missing", "broken"):
        assert key in info
    assert info["ids"] == 4 and info["action"] == {"hit": 4, "scratch": 4}


def test_info_text(tiny_data, capsys):
    code, out, _ = run(capsys, "info", tiny_data)
    assert code == 0 and "4 videos" in out and "train 3, test 1" in out


@pytest.fixture
def data(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vis: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0]


def test_bad_inputs_one_line_exit_2(data, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(*run(capsys, "info", empty)[::2], "no Greatest Hits videos")
    assert_one_line_error(*run(capsys, "info", tmp_path / "nowhere")[::2], "not a folder")

    times = data / f"{TINY_IDS[0]}_times.txt"
    times.write_text("0.5 wood hit static\noops wood hit static\n")
    code, out, err = run(capsys, "info", data)
    assert code == 1 and "broken" not in err  # info reports it on stdout, exit status 1 ...
    assert out.strip().splitlines()[-1].startswith("1 of 4 videos are broken")
    code, out, _ = run(capsys, "info", data, "--json")
    assert code == 1 and f"{TINY_IDS[0]}_times.txt:2" in json.loads(out)["broken"][TINY_IDS[0]]

    (data / "test.txt").write_text("2099-01-01-00-00-00\n")
    assert_one_line_error(*run(capsys, "info", data)[::2], "test.txt:1", "unknown video id")


def test_missing_file_and_skip_broken(data, capsys):
    (data / f"{TINY_IDS[2]}_denoised.mp4").unlink()
    assert_one_line_error(*run(capsys, "info", data)[::2], f"{TINY_IDS[2]}_denoised.mp4: missing")
    code, out, err = run(capsys, "info", data, "--skip-broken", "--json")
    assert code == 1 and "vis: warning:" in err and json.loads(out)["ids"] == 3  # skipped, still reported


def test_console_script_exit_status(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vis", "info", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("vis: error:") and "Traceback" not in r.stderr


def test_synth_knob_errors(tmp_path, capsys):
    code, _, err = run(capsys, "synth", tmp_path / "s", "--videos", "1", "--seconds", "3", "--knob", "bogus=1")
    assert_one_line_error(code, err, "unknown difficulty knob 'bogus'")
    code, _, err = run(capsys, "synth", tmp_path / "s", "--videos", "1", "--seconds", "3", "--knob", "noise")
    assert_one_line_error(code, err, "NAME=NUMBER")


def test_train_seed_keeps_the_configs_unless_given(tmp_path):
    """`vis train` without --seed trains with the config's [train] seed; --seed N replaces it."""
    from vis.cli import build_parser
    from vis.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nseed = 3\n")
    for argv, seed in (([], 3), (["--seed", "5"], 5)):
        args = build_parser().parse_args(["train", str(tmp_path), "--out", str(tmp_path / "r"), "--config", str(cfg),
                                          *argv])
        assert load_config(args.config, seed=args.seed).train.seed == seed
