"""`vis evaluate`: every metric on constructed cases, and the whole command on a tiny dataset."""

import json

import numpy as np
import pytest

from vis.eval.evaluate import sound_metrics
from vis.eval.metrics import fit_linear_classifier


def impacts(n, rng):
    """Windows [n, 45, 42] whose spectrum depends on a two-class label."""
    y = rng.integers(0, 2, n)
    t = np.exp(-np.clip(np.arange(45) - 22, 0, None) / 5.0)[None, :, None] * (np.arange(45) >= 22)[None, :, None]
    spec = np.where(y[:, None] == 0, np.linspace(1, 0.1, 42)[None], np.linspace(0.1, 1, 42)[None])
    x = t * spec[:, None, :] * rng.uniform(0.3, 1, (n, 1, 1)) + 0.01 * rng.random((n, 45, 42))
    return x.astype(np.float32), np.array(["wood", "cloth"])[y]


def test_perfect_predictor_gets_r_one_and_the_real_sound_accuracy():
    rng = np.random.default_rng(0)
    x_tr, y_tr = impacts(200, rng)
    x_te, y_te = impacts(60, rng)
    clf = fit_linear_classifier(x_tr.reshape(200, -1), y_tr)
    labels = {"material": y_te}
    classifiers = {"material": (clf, ["wood", "cloth"])}
    real = sound_metrics(x_te, x_te, labels, classifiers)
    assert real["loudness_r"] == pytest.approx(1) and real["centroid_r"] == pytest.approx(1)
    assert real["loudness_err"] == 0 and real["material_acc"] > 0.95
    shuffled = sound_metrics(x_te[rng.permutation(60)], x_te, labels, classifiers)
    assert abs(shuffled["loudness_r"]) < 0.5 and shuffled["material_acc"] < 0.8
    # a prediction off by a constant gain keeps r = 1 but has an error
    louder = sound_metrics(1.5 * x_te, x_te, labels, classifiers)
    assert louder["loudness_r"] == pytest.approx(1) and louder["loudness_err"] > 0


def test_evaluate_end_to_end(tiny_data, tiny_run, tmp_path, capsys, monkeypatch):
    from vis.cli import main
    from vis.eval import evaluate as ev
    from vis.sound.exemplars import ExemplarBank

    code = main(["evaluate", str(tiny_data), "--model", str(tiny_run), "--out", str(tmp_path / "rep"),
                 "--cache", str(tmp_path / "cache"), "--compare", f"again={tiny_run}"])
    assert code == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    for method in ("real", "full", "network-only", "again", "full-example", "parametric", "image-match", "random",
                   "real-match"):
        assert method in m["methods"], method
    assert m["methods"]["real"]["loudness_r"] == 1.0
    assert m["methods"]["again"] == m["methods"]["full"]  # the same run compared with itself
    assert "Full system" in (tmp_path / "rep" / "report.md").read_text()
    assert "average-shape" in m["methods"] and "mean" in m["methods"]
    for name, row in m["methods"].items():
        assert row["sq_err"] is not None and row["contrast"] is not None, name
    assert m["methods"]["real"]["sq_err"] == 0 and m["methods"]["real"]["contrast"] == m["real_contrast"]
    assert isinstance(m["beats_no_video_baselines"], bool)
    best = min(m["methods"]["mean"]["sq_err"], m["methods"]["average-shape"]["sq_err"])
    assert m["beats_no_video_baselines"] == (m["methods"]["full"]["sq_err"] < best)
    margin = (best - m["methods"]["full"]["sq_err"]) / best  # from values rounded to 4 decimals in metrics.json
    assert m["sq_err_margin"] == pytest.approx(margin, rel=0.05, abs=2e-3)
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| Average impact shape (no video) |" in report and "| sq err | contrast |" in report
    assert "The network beats both no-video baselines on held-out sq_err" in report
    assert list((tmp_path / "rep" / "figures").glob("prediction_*.png"))

    # the run's bank remembers what its impacts looked like: the full system's spectrum leans on it
    assert ExemplarBank.load(tiny_run / "bank.npz").has_memory
    full, alone = m["methods"]["full"], m["methods"]["network-only"]
    assert full["loudness_r"] == pytest.approx(alone["loudness_r"], abs=0.02)  # the level is the network's

    # with a perfect network (and no memory to lean on) the full system's row equals the real sound's
    monkeypatch.setattr(ev, "predict_windows", lambda net, pca, windows, **_: windows.targets)
    monkeypatch.setattr(ExemplarBank, "with_lookalikes", lambda self, pred, visual: pred)
    assert main(["evaluate", str(tiny_data), "--model", str(tiny_run), "--out", str(tmp_path / "rep2"),
                 "--cache", str(tmp_path / "cache"), "--methods", "full,network-only,random"]) == 0
    m2 = json.loads((tmp_path / "rep2" / "metrics.json").read_text())
    assert m2["methods"]["full"] == m2["methods"]["real"] == m2["methods"]["network-only"]
    # the verdict needs no baseline among --methods: a perfect network beats both, by all of their error
    assert m2["beats_no_video_baselines"] is True and m2["sq_err_margin"] == 1.0
    assert ": yes, 100 % below the better baseline." in (tmp_path / "rep2" / "report.md").read_text()


def test_baseline_verdict_and_report_line():
    from vis.eval.evaluate import baseline_verdict
    from vis.eval.report import baseline_line

    v = baseline_verdict(0.41, {"mean": 0.60, "average-shape": 0.52})
    assert v["beats_no_video_baselines"] is True and v["sq_err_margin"] == pytest.approx(0.11 / 0.52)
    m = {"methods": {"full": {"sq_err": 0.41}}, **v}
    assert baseline_line(m) == ("The network beats both no-video baselines on held-out sq_err (0.410 vs mean 0.600, "
                                "average shape 0.520): yes, 21 % below the better baseline.")
    worse = baseline_verdict(0.55, {"mean": 0.60, "average-shape": 0.50})
    assert worse["beats_no_video_baselines"] is False and worse["sq_err_margin"] == pytest.approx(-0.1)
    assert baseline_line({"methods": {"full": {"sq_err": 0.55}}, **worse}).endswith(": no, 10 % above the better "
                                                                                      "baseline.")


def test_bad_compare_argument(tiny_data, tiny_run, tmp_path, capsys):
    from vis.cli import main

    assert main(["evaluate", str(tiny_data), "--model", str(tiny_run), "--out", str(tmp_path / "r"),
                 "--compare", "noequals"]) == 2
    assert "NAME=RUN" in capsys.readouterr().err


def test_every_evaluated_method_is_a_network_or_in_the_registry():
    from vis.eval.evaluate import ALL_METHODS
    from vis.eval.methods import LOOKS, METHODS

    assert set(METHODS) | {"full", "network-only"} == set(ALL_METHODS)
    assert set(LOOKS) <= set(METHODS)
