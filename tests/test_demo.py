"""`vis demo` end to end at a tiny size: synthesize, train, predict, report (and a second run reuses it)."""

from vis.demo import run_demo


def test_demo_tiny(tmp_path):
    s = run_demo(tmp_path / "demo", videos=4, seconds=3.0, epochs=1, det_epochs=1, batch_size=2, workers=1,
                 progress=False)
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Held-out videos" in report and "mean training sound" in report and "detect/" in report
    for method in ("example", "parametric"):  # onsets of the predicted sound scored against the real sound's
        pooled = s["onsets"][method]
        assert pooled["real_onsets"] > 0 and 0 <= pooled["onsets"]
        assert pooled["recall"] == pooled["recall"]  # a number, even when nothing was predicted
    vids = sorted(p.name for p in (tmp_path / "demo" / "videos").iterdir())
    assert any(n.endswith("_predicted.mp4") for n in vids) and any(n.endswith("_true.mp4") for n in vids)
    assert list((tmp_path / "demo" / "figures").glob("*.png"))
    again = run_demo(tmp_path / "demo", videos=4, seconds=3.0, epochs=1, det_epochs=1, batch_size=2, workers=1,
                     progress=False)
    assert again["timings"]["train"] < s["timings"]["train"] + 1  # the trained model is reused
