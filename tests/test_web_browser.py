"""`vis serve` in a real browser: Debian's Chromium, headless, driven by Playwright.

One test uploads a small video on the demo page and gets back a video that plays, with an audio track; one
takes a study from its join link through the practice trials to the last trial, and the answers stored
are the clicks made. A failing test leaves a screenshot in test-artifacts/. Playwright drives the system's
``chromium`` (`apt-get install chromium`; `.ci/run` installs it); it never downloads a browser.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import moving_square_frames, write_tiny_id
from tests.web_helpers import ADMIN, live_server
from vis.data.dataset import Event
from vis.data.media import probe, write_video
from vis.web.serve import build_app
from vis.web.sounds import load_predictor
from vis.web.store import Store
from vis.web.study import create_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
STUDY_IDS = [f"2015-02-02-00-00-{i:02d}" for i in range(8)]  # the first for training, seven to test
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="no playwright (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    """The app with the tiny model loaded, and a study 'pilot' made by it: seven 3-s test videos, one
    impact each (five practice trials and two that count)."""
    data = tmp_path_factory.mktemp("study-data")
    for n, vid in enumerate(STUDY_IDS):
        write_tiny_id(data, vid, seconds=3.0, events=[Event(1.5, ("wood", "metal")[n % 2], "hit", "static")])
    (data / "train.txt").write_text(STUDY_IDS[0] + "\n")
    (data / "test.txt").write_text("\n".join(STUDY_IDS[1:]) + "\n")
    studies = tmp_path_factory.mktemp("studies")
    predictor = load_predictor(tiny_run)
    create_study(data, predictor, studies / "pilot", trials=2, per_video=1, clip_s=1.0, progress=False)
    app = build_app(studies=studies, admin_token=ADMIN, predictor=predictor, data=data,
                    jobs_dir=tmp_path_factory.mktemp("jobs"), model_name="tiny")
    with live_server(app) as url:
        yield url, studies


@contextlib.contextmanager
def page_of(browser, name: str):
    """A new page; on failure its screenshot is kept as test-artifacts/NAME.png."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        raise
    finally:
        page.close()


def test_demo_upload_gives_a_video_that_plays_with_sound(browser, server, tmp_path):
    url, _ = server
    video = tmp_path / "my clip, Schlag 日本.mp4"  # sent URI-encoded: a header holds Latin-1 only
    write_video(video, moving_square_frames(45, w=64, h=48))  # 1.5 s, silent
    with page_of(browser, "demo") as page:
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('model').textContent === 'tiny'")
        assert "200" in page.inner_text("#limits") and "webm" in page.inner_text("#limits")
        fitted = httpx.get(url + "/api/info").json()["threshold"]  # the tiny model has an impact detector
        assert page.is_visible("#threshold") and page.input_value("#threshold") == ""  # empty: the fitted one ...
        assert str(fitted) in (page.get_attribute("#threshold", "placeholder") or "")  # ... which it names
        page.fill("#threshold", "0.05")  # sent with the upload (the API test checks what it changes)
        page.set_input_files("#file", str(video))
        page.check("#method-parametric")
        page.click("#go")
        page.wait_for_selector("#result:not([hidden])")
        assert "parametric" in page.inner_text("#status") and "threshold 0.05" in page.inner_text("#status")
        page.wait_for_function("document.getElementById('out').readyState >= 2")
        page.evaluate("() => { const v = document.getElementById('out'); v.muted = true; return v.play(); }")
        page.wait_for_function("document.getElementById('out').currentTime > 0.3")
        assert page.evaluate("document.getElementById('out').duration") == pytest.approx(1.5, abs=0.1)
        page.wait_for_function("document.getElementById('png').naturalWidth > 0")
        src = page.get_attribute("#out", "src")
    returned = tmp_path / "returned.mp4"
    returned.write_bytes(httpx.get(url + src).content)
    info = probe(returned)
    assert info.has_video and info.has_audio and info.n_frames == 45


def test_a_study_from_the_link_to_the_last_trial(browser, server):
    url, studies = server
    rng = random.Random(3)
    clicks = []
    with page_of(browser, "study") as page:
        page.goto(url + "/study/pilot/join")
        page.wait_for_selector("#intro:not([hidden])")
        assert page.inner_text("#n-practice") == "5" and page.inner_text("#n-trials") == "7"
        page.click("#begin")
        for n in range(7):
            page.wait_for_selector("#trial:not([hidden])")
            page.wait_for_function(f"document.body.dataset.trial === '{n}'")
            counter = page.inner_text("#counter")
            assert counter == (f"Practice {n + 1} of 5" if n < 5 else f"Trial {n - 4} of 2")
            page.wait_for_function("document.getElementById('left').readyState >= 1 && "
                                   "document.getElementById('right').readyState >= 1")  # both clips load
            side = rng.choice(["left", "right"])
            page.click(f"#choose-{side}")
            clicks.append((n, side))
            if n < 5:  # practice: the answer is shown, then Next
                page.wait_for_selector("#feedback:not([hidden])")
                assert "had the real sound" in page.inner_text("#feedback")
                page.click("#next")
        page.wait_for_selector("#done:not([hidden])")
        page.reload()  # the session survives a reload, and the study stays done
        page.wait_for_selector("#done:not([hidden])")
    rows = Store(studies / "pilot" / "study.db").answers()
    assert [(r["trial"], r["choice"]) for r in rows] == clicks
    assert [r["practice"] for r in rows] == [1] * 5 + [0] * 2 and len({r["participant"] for r in rows}) == 1
    with page_of(browser, "results") as page:
        page.goto(f"{url}/admin?token={ADMIN}")
        page.wait_for_selector("text=pilot")
        page.goto(url + "/admin/study/pilot")
        page.wait_for_selector("#methods tbody tr")
        assert "2 answers from 1 participants" in page.inner_text("#summary")


def test_admin_creates_a_study_with_the_loaded_model(server):
    url, studies = server
    auth = {"Authorization": f"Bearer {ADMIN}"}
    form = {"name": "web-made", "methods": "parametric", "trials": "1", "practice": "1", "per_video": "1"}
    assert httpx.post(url + "/admin/api/studies", data=form).status_code == 401
    job = httpx.post(url + "/admin/api/studies", data=form, headers=auth).json()
    for _ in range(600):
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
        job = httpx.get(f"{url}/api/jobs/{job['job']}").json()
    assert job["state"] == "done", job
    assert job["clips"] == 7 and job["join"] == "/study/web-made/join"
    listed = {s["id"]: s for s in httpx.get(url + "/admin/api/studies", headers=auth).json()["studies"]}
    assert listed["web-made"]["methods"] == ["parametric"] and listed["web-made"]["trials"] == 2
    again = httpx.post(url + "/admin/api/studies", data=form, headers=auth)
    assert again.status_code == 400 and "in use" in again.json()["detail"]
