"""The automated real-or-fake proxy (vis/proxy.py): fooling rate, Fréchet distance, the human study beside them."""

import json
import math

import numpy as np
import pytest

from vis.errors import VisError
from vis.eval import proxy
from vis.eval.proxy import (
    fooled,
    frechet,
    frechet_distance,
    group_folds,
    load_study,
    proxy_metrics,
    proxy_section,
    rate_interval,
    study_comparison,
    video_interval,
)

VIDEOS = 20


def scene(rng, n=300):
    """Video ids [n] and each video's spectral colouring [VIDEOS, 42]."""
    return rng.integers(0, VIDEOS, n), rng.normal(0, 1, (VIDEOS, 42))


def draw(groups, colour, rng, shift=0.0):
    """Impact-like windows [n, 45, 42]: a decaying onset at row 22, the video's spectrum, a random gain, noise."""
    t = np.exp(-np.clip(np.arange(45) - 22, 0, None) / 5.0) * (np.arange(45) >= 22)
    spec = np.abs(1 + 0.3 * colour[groups])
    gain = rng.uniform(0.3, 1, (len(groups), 1, 1))
    return t[None, :, None] * spec[:, None, :] * gain + 0.05 * rng.random((len(groups), 45, 42)) + shift


def test_a_method_drawn_like_the_real_sound_fools_half_the_time():
    rng = np.random.default_rng(0)
    g, colour = scene(rng)
    real, same = draw(g, colour, rng), draw(g, colour, rng)  # the same videos, different draws
    rate, low, high = rate_interval(fooled(real, same, g))
    assert 0.4 <= rate <= 0.6 and low < rate < high  # seeds 0-11: 0.45-0.54, sd 0.03
    # the real windows against themselves: exactly half, by the calibration
    assert rate_interval(fooled(real, real, g))[0] == pytest.approx(0.5, abs=0.02)


def test_constant_or_shifted_methods_fool_nobody():
    rng = np.random.default_rng(1)
    g, colour = scene(rng)
    real = draw(g, colour, rng)
    constant = np.broadcast_to(real.mean(axis=0), real.shape)
    assert rate_interval(fooled(real, constant, g))[0] < 0.05
    assert rate_interval(fooled(real, draw(g, colour, rng, shift=0.03), g))[0] < 0.05


def test_folds_keep_each_video_on_one_side(monkeypatch):
    rng = np.random.default_rng(2)
    g, colour = scene(rng, n=120)
    fold = group_folds(g, n_folds=5)
    assert set(fold) == set(range(5))
    for v in np.unique(g):
        assert len(set(fold[g == v])) == 1
    assert set(group_folds(np.array([3, 3, 7, 7, 7]), n_folds=5)) == {0, 1}  # fewer videos than folds
    assert (group_folds(g, seed=1) == group_folds(g, seed=1)).all()  # seeded: the same folds again
    assert (group_folds(g, seed=1) != fold).any()  # another seed, another assignment
    assert np.ptp(np.bincount(fold)) <= np.bincount(g).max()  # sizes balanced to within one video
    with pytest.raises(VisError, match="at least 2 videos"):
        group_folds(np.zeros(10, int))

    seen = []
    score = proxy._held_out_scores

    def spy(x, y, tr, te, *, seed):
        seen.append((tr.copy(), te.copy()))
        return score(x, y, tr, te, seed=seed)

    monkeypatch.setattr(proxy, "_held_out_scores", spy)
    fooled(draw(g, colour, rng), draw(g, colour, rng), g, repeats=3)
    both = np.concatenate([g, g])  # real then fake windows, paired by video
    assert len(seen) == 3 * 5
    for r in range(3):
        held = np.zeros(len(both), int)
        for tr, te in seen[5 * r : 5 * r + 5]:
            assert not set(both[tr]) & set(both[te])
            assert (tr ^ te).all()
            held += te
        assert (held == 1).all()  # every window held out exactly once per cross-validation
    assert not (seen[0][1] == seen[5][1]).all()  # the repeats reshuffle the folds
    with pytest.raises(VisError, match="repeats"):
        fooled(draw(g, colour, rng), draw(g, colour, rng), g, repeats=0)


def test_wilson_interval():
    rate, low, high = rate_interval(np.r_[np.ones(30), np.zeros(70)])
    assert rate == 0.3 and low == pytest.approx(0.2189, abs=1e-3) and high == pytest.approx(0.3958, abs=1e-3)
    assert rate_interval(np.zeros(50))[1] == 0 and rate_interval(np.zeros(50))[2] > 0
    assert all(math.isnan(v) for v in rate_interval(np.array([])))


def test_video_interval_is_wider_when_videos_differ():
    g = np.repeat(np.arange(10), 20)
    spread = (g < 3).astype(float)  # 3 videos fooled every time, 7 never: a rate of 30 %
    low, high = video_interval(spread, g)
    w_low, w_high = rate_interval(spread)[1:]
    assert low < w_low < 0.3 < w_high < high and 0 <= low and high <= 1
    alike = np.tile(np.r_[np.ones(6), np.zeros(14)], 10)  # every video fooled 30 % of the time
    assert video_interval(alike, g) == pytest.approx((0.3, 0.3))
    assert video_interval(spread, g) == (low, high)  # seeded


def reference_frechet(mu1, cov1, mu2, cov2):
    """Slow reference: the trace term through the symmetric root S1^(1/2) S2 S1^(1/2) (eigendecompositions)."""
    w, v = np.linalg.eigh(cov1)
    root1 = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    trace_root = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def test_frechet_distance_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == pytest.approx(5)
    # diagonal: per-dimension sum of the same
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    want = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want)
    # general covariances: against the slow reference
    rng = np.random.default_rng(3)
    for _ in range(5):
        m1, m2 = rng.normal(size=(2, 6, 6))
        c1, c2 = m1 @ m1.T, m2 @ m2.T
        mu1, mu2 = rng.normal(size=(2, 6))
        assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(reference_frechet(mu1, c1, mu2, c2), rel=1e-6)
    # a singular covariance (a constant method): finite, the mean term plus the other's trace
    c = np.diag([2.0, 3.0])
    assert frechet_distance(np.zeros(2), c, np.ones(2), np.zeros((2, 2))) == pytest.approx(2 + 5)


def test_frechet_is_zero_for_the_real_sound_and_grows_with_a_shift():
    rng = np.random.default_rng(4)
    g, colour = scene(rng)
    real = draw(g, colour, rng)
    assert frechet(real, real) == pytest.approx(0, abs=1e-8)
    assert frechet(real, draw(g, colour, rng)) < frechet(real, draw(g, colour, rng, shift=0.01))
    shifts = [frechet(real, real + s) for s in (0.0, 0.01, 0.03, 0.1)]
    assert shifts[0] == pytest.approx(0, abs=1e-8) and np.all(np.diff(shifts) > 0)
    constant = np.broadcast_to(real.mean(axis=0), real.shape)
    assert np.isfinite(frechet(real, constant)) and frechet(real, constant) > 0
    with pytest.raises(VisError, match="differ in shape"):
        frechet(real, real[:, :40])


def test_proxy_metrics_for_every_method():
    rng = np.random.default_rng(5)
    g, colour = scene(rng, n=200)
    real = draw(g, colour, rng)
    feats = {"real": real, "same": draw(g, colour, rng), "mean": np.broadcast_to(real.mean(0), real.shape)}
    m = proxy_metrics(feats, g)
    assert set(m) == set(feats)
    assert m["real"]["frechet"] == pytest.approx(0, abs=1e-8)
    assert m["real"]["fooling_rate"] == pytest.approx(0.5, abs=0.02)
    assert m["mean"]["fooling_rate"] < 0.05 < m["same"]["fooling_rate"]
    assert m["mean"]["frechet"] > m["same"]["frechet"]
    for row in m.values():
        assert row["fooling_low"] <= row["fooling_rate"] <= row["fooling_high"]
        assert row["fooling_video_low"] <= row["fooling_rate"] <= row["fooling_video_high"]
    one_video = proxy_metrics(feats, np.zeros(len(g), int))  # no grouped cross-validation possible
    assert math.isnan(one_video["same"]["fooling_rate"]) and np.isfinite(one_video["same"]["frechet"])


def test_load_study_json_csv_and_folder(tmp_path):
    (tmp_path / "flat.json").write_text(json.dumps({"full": 0.4, "random": 0.2}))
    assert load_study(tmp_path / "flat.json") == {"full": 0.4, "random": 0.2}
    (tmp_path / "nested.json").write_text(json.dumps({"full": {"chosen_real": 0.4, "trials": 50}}))
    assert load_study(tmp_path / "nested.json") == {"full": 0.4}
    (tmp_path / "s.csv").write_text("method,chosen_real,trials\nfull,0.4,50\n random ,0.25,50\n")
    assert load_study(tmp_path / "s.csv") == {"full": 0.4, "random": 0.25}
    study = tmp_path / "study"
    study.mkdir()
    (study / "results.json").write_text(json.dumps({"real": 0.5}))
    assert load_study(study) == {"real": 0.5}

    (tmp_path / "pct.json").write_text(json.dumps({"full": 40}))
    (tmp_path / "cols.csv").write_text("name,rate\nfull,0.4\n")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "text.csv").write_text("method,chosen_real\nfull,often\n")
    for name, match in (("pct.json", "outside"), ("cols.csv", "columns"), ("bad.json", "not JSON"),
                        ("text.csv", "s.csv:2|text.csv:2"), ("none.json", "no such")):
        with pytest.raises(VisError, match=match):
            load_study(tmp_path / name)


def test_study_comparison_and_report_table():
    methods = {n: {"fooling_rate": r, "fooling_low": r - 0.05, "fooling_high": r + 0.05, "fooling_video_low": r - 0.1,
                   "fooling_video_high": r + 0.1, "frechet": 1 - r}
               for n, r in (("real", 0.5), ("full", 0.3), ("random", 0.4), ("mean", 0.0))}
    human = {"real": 0.5, "full": 0.35, "random": 0.45, "mean": 0.02, "other": 0.1}
    cmp = study_comparison(methods, human)
    assert cmp["spearman"] == pytest.approx(1.0) and cmp["methods"] == ["real", "full", "random", "mean"]
    flipped = study_comparison(methods, {"real": 0.1, "full": 0.3, "random": 0.2, "mean": 0.9})
    assert flipped["spearman"] == pytest.approx(-1.0)
    assert math.isnan(study_comparison(methods, {"full": 0.3, "mean": 0.1})["spearman"])  # under 3 methods

    lines = proxy_section({"methods": methods, "study": cmp}, order=list(methods), names={"full": "Full system"})
    text = "\n".join(lines)
    assert "| Full system | 30.0% | 25.0% – 35.0% | 20.0% – 40.0% | 0.70 | 35.0% |" in text
    assert "Spearman rank correlation" in text and "1.00" in text
    plain = "\n".join(proxy_section({"methods": methods}, order=list(methods), names={}))
    assert "Humans" not in plain and "| mean | 0.0% |" in plain
    assert proxy_section({"methods": {"full": {"loss": 1.0}}}, order=["full"], names={}) == []


def test_evaluate_writes_the_proxy_and_the_study(tiny_data, tiny_run, tmp_path, capsys):
    from vis.cli import main

    (tmp_path / "study.csv").write_text("method,chosen_real\nfull,0.3\nrandom,0.2\nreal,0.5\n")
    code = main(["evaluate", str(tiny_data), "--model", str(tiny_run), "--out", str(tmp_path / "rep"),
                 "--cache", str(tmp_path / "cache"), "--methods", "full,random,mean",
                 "--study", str(tmp_path / "study.csv")])
    assert code == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    for name in ("real", "full", "random", "mean"):
        assert "frechet" in m["methods"][name] and "fooling_rate" in m["methods"][name], name
    assert m["methods"]["real"]["frechet"] == 0
    assert m["study"]["human"] == {"full": 0.3, "random": 0.2, "real": 0.5}
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "Real or fake: automated proxy" in report and "Humans: chosen as real" in report
    code = main(["evaluate", str(tiny_data), "--model", str(tiny_run), "--out", str(tmp_path / "rep2"),
                 "--cache", str(tmp_path / "cache"), "--methods", "full", "--study", str(tmp_path / "none.json")])
    assert code == 2 and "no such study results file" in capsys.readouterr().err


def test_frechet_distance_without_sqrtm(monkeypatch):
    """When sqrtm fails (non-finite or clearly complex), the trace comes from the product's eigenvalues."""
    rng = np.random.default_rng(6)
    m1, m2 = rng.normal(size=(2, 5, 5))
    c1, c2, mu1, mu2 = m1 @ m1.T, m2 @ m2.T, rng.normal(size=5), rng.normal(size=5)
    want = reference_frechet(mu1, c1, mu2, c2)
    monkeypatch.setattr(proxy.linalg, "sqrtm", lambda a: np.full(a.shape, np.nan))
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(want, rel=1e-6)
    monkeypatch.setattr(proxy.linalg, "sqrtm", lambda a: np.eye(len(a)) * 1j)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(want, rel=1e-6)
