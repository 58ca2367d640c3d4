"""`vis demo` end to end at a tiny size: synthesize, train, predict, report (and a second run reuses it)."""

import math

import pytest

from vis.demo import run_demo


@pytest.mark.slow(27)
def test_demo_tiny(tmp_path):
    s = run_demo(tmp_path / "demo", videos=4, seconds=3.0, epochs=1, det_epochs=1, batch_size=2, workers=1,
                 progress=False)
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Held-out videos" in report and "mean training sound" in report and "detect/" in report
    rows = s["rows"]
    assert rows and all(r["real_onsets"] > 0 for r in rows)
    for method in ("example", "parametric"):  # onsets of the predicted sound scored against the real sound's
        pooled = s["onsets"][method]
        # the pooled figures are the sums over the held-out videos, and precision / recall follow from them
        assert pooled["real_onsets"] == sum(r["real_onsets"] for r in rows)
        assert pooled["onsets"] == sum(r[method]["onsets"] for r in rows)
        tp = sum(r[method]["tp"] for r in rows)
        assert 0 <= tp <= min(pooled["onsets"], pooled["real_onsets"])
        assert pooled["recall"] == pytest.approx(tp / pooled["real_onsets"])  # a number, even with nothing predicted
        if pooled["onsets"]:
            assert pooled["precision"] == pytest.approx(tp / pooled["onsets"])
        else:
            assert math.isnan(pooled["precision"]) and pooled["silent_videos"] == len(rows)
    vids = sorted(p.name for p in (tmp_path / "demo" / "videos").iterdir())
    assert any(n.endswith("_predicted.mp4") for n in vids) and any(n.endswith("_true.mp4") for n in vids)
    assert list((tmp_path / "demo" / "figures").glob("*.png"))
    kept = [tmp_path / "demo" / "run" / "model.pt", tmp_path / "demo" / "detect" / "model.pt",
            *sorted((tmp_path / "demo" / "data").glob("*_times.txt"))]
    before = [p.stat().st_mtime_ns for p in kept]
    again = run_demo(tmp_path / "demo", videos=4, seconds=3.0, epochs=1, det_epochs=1, batch_size=2, workers=1,
                     progress=False)
    assert [p.stat().st_mtime_ns for p in kept] == before  # the data and both trained models are reused, not redone
    assert again["onsets"]["example"]["real_onsets"] == s["onsets"]["example"]["real_onsets"]
