"""`vis serve` through its HTTP API (FastAPI's TestClient): a participant's way through a study, idempotent
answers, what is refused (tokens, trials, closed studies, uploads, admin pages), results and the CSV."""

from __future__ import annotations

import csv
import io
import json
import random
import socket
import threading
import time

import httpx
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from tests.conftest import clicks
from tests.web_helpers import ADMIN, fake_study, live_server
from vis.cli import main
from vis.data.io import write_wav
from vis.eval.metrics import wilson
from vis.web.jobs import MAX_PENDING, Jobs
from vis.web.results import summarize
from vis.web.serve import build_app
from vis.web.store import Store
from vis.web.study import assign_trials, load_manifest

BIG = 64 * 1024  # the upload limit of these tests' app


@pytest.fixture
def studies(tmp_path):
    root = tmp_path / "studies"
    fake_study(root, "s1")
    fake_study(root, "s2", videos=3, practice=1, trials=2)
    return root


@pytest.fixture
def client(studies, tmp_path):
    # any object stands for the model: these tests refuse uploads before a prediction would run
    app = build_app(studies=studies, admin_token=ADMIN, predictor=object(), jobs_dir=tmp_path / "jobs",
                    max_upload=BIG)
    with TestClient(app) as c:
        yield c


def join(client, sid="s1"):
    r = client.post(f"/study/{sid}/api/join")
    assert r.status_code == 200, r.text
    client.cookies.clear()  # each participant passes their token explicitly
    return {"X-Session": r.json()["session"]}


def test_wilson_interval():
    lo, hi = wilson(5, 10)
    assert abs(lo - 0.2366) < 1e-3 and abs(hi - 0.7634) < 1e-3
    lo, hi = wilson(0, 10)
    assert lo == 0 and abs(hi - 0.2775) < 1e-3
    assert wilson(0, 0) == (0.0, 1.0)


def test_trials_one_clip_per_video_practice_first(studies):
    m = load_manifest(studies / "s1")
    for seed in range(20):
        trials = assign_trials(m, random.Random(seed))
        videos = [next(c["video"] for c in m["clips"] if c["id"] == t["clip"]) for t in trials]
        assert len(trials) == 6 and len(set(videos)) == 6  # 2 practice + 4 trials, of 8 videos
        assert [t["practice"] for t in trials] == [True, True, False, False, False, False]
        assert all(t["method"] in m["methods"] for t in trials)


def test_a_participant_answers_every_trial_once(client, studies):
    s = join(client)
    state = client.get("/study/s1/api/state", headers=s).json()
    assert state["next"] == 0 and state["practice"] == 2 and len(state["trials"]) == 6
    for t in state["trials"]:
        left = client.get(f"/study/s1/media/{t['trial']}/left", headers=s)
        right = client.get(f"/study/s1/media/{t['trial']}/right", headers=s)
        assert left.status_code == right.status_code == 200 and left.content != right.content
        for r in (left, right):  # nothing that names a file the same way in every trial
            assert "etag" not in r.headers and "last-modified" not in r.headers
        choice = random.Random(t["trial"]).choice(["left", "right"])
        first = client.post("/study/s1/api/answer", json={"trial": t["trial"], "choice": choice}, headers=s).json()
        assert first["stored"] and first["choice"] == choice
        assert ("real_side" in first) == t["practice"]  # the answer is revealed in practice only
        other = "right" if choice == "left" else "left"
        again = client.post("/study/s1/api/answer", json={"trial": t["trial"], "choice": other}, headers=s).json()
        assert not again["stored"] and again["choice"] == choice  # a second answer gets the first one back
    state = client.get("/study/s1/api/state", headers=s).json()
    assert state["next"] is None and all(t["answer"] for t in state["trials"])
    rows = Store(studies / "s1" / "study.db").answers()
    assert len(rows) == 6 and [r["trial"] for r in rows] == list(range(6))
    real = (studies / "s1" / "clips" / "real.mp4").read_bytes()
    for r in rows:  # chose_real says whether the side chosen played the real recording
        served = client.get(f"/study/s1/media/{r['trial']}/{r['choice']}", headers=s).content
        assert r["chose_real"] == (served == real)


def test_tokens_trials_and_closed_studies_are_refused(client, studies):
    a, b = join(client), join(client)
    other_study = join(client, "s2")
    url = "/study/s1/api/answer"
    assert client.get("/study/s1/api/state").status_code == 401  # no token
    forged = {"X-Session": "x" * 32}
    for r in (client.get("/study/s1/api/state", headers=forged), client.post(url, json={"trial": 0, "choice": "left"},
              headers=forged), client.get("/study/s1/media/0/left", headers=forged),
              client.get("/study/s1/api/state", headers=other_study)):
        assert r.status_code == 401 and "session" in r.json()["detail"]
    client.post(url, json={"trial": 0, "choice": "left"}, headers=a)
    state_b = client.get("/study/s1/api/state", headers=b).json()
    assert all(t["answer"] is None for t in state_b["trials"])  # b sees nothing of a's answers
    for bad in ({"trial": 6, "choice": "left"}, {"trial": -1, "choice": "left"}):
        r = client.post(url, json=bad, headers=a)
        assert r.status_code == 404 and "no trial" in r.json()["detail"]
    assert client.get("/study/s1/media/99/left", headers=a).status_code == 404
    assert client.get("/study/s1/media/0/middle", headers=a).status_code == 404
    assert client.post(url, json={"trial": 1, "choice": "up"}, headers=a).status_code == 422
    assert client.post(url, json={"trial": "one", "choice": "left"}, headers=a).status_code == 422
    assert client.get("/study/nope/api/state", headers=a).status_code == 404
    assert client.get("/study/..%2Fs1/api/state", headers=a).status_code == 404
    store = Store(studies / "s1" / "study.db")
    store.expire(store.participant(b["X-Session"]).id)
    r = client.get("/study/s1/api/state", headers=b)
    assert r.status_code == 403 and "expired" in r.json()["detail"]
    assert client.post("/admin/api/study/s1/close", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    r = client.post(url, json={"trial": 1, "choice": "left"}, headers=a)
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    r = client.post(url, json={"trial": 0, "choice": "right"}, headers=a)  # a retry of a stored answer
    assert r.status_code == 200 and r.json()["choice"] == "left"
    assert client.post("/study/s1/api/join").status_code == 409
    assert len(store.answers()) == 1


def test_admin_pages_need_the_token(client):
    paths = ["/admin", "/admin/api/studies", "/admin/study/s1", "/admin/api/study/s1/results",
             "/admin/study/s1/answers.csv"]
    for p in paths:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = client.get(p, headers=headers)
            assert r.status_code == 401 and "admin token" in r.text, p
    assert client.post("/admin/api/study/s1/close").status_code == 401
    assert client.post("/admin/api/studies", data={"name": "x"}).status_code == 401
    assert client.get("/admin?token=wrong").status_code == 401
    r = client.get(f"/admin?token={ADMIN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin"
    for p in paths:  # the cookie set on the way in opens the rest
        assert client.get(p).status_code == 200, p
    listed = client.get("/admin/api/studies").json()["studies"]
    assert [s["id"] for s in listed] == ["s1", "s2"] and listed[0]["trials"] == 6


def test_results_and_csv_follow_the_answers(client, studies):
    for n in range(5):
        s = join(client)
        for t in range(6):
            client.post("/study/s1/api/answer", json={"trial": t, "choice": ("left", "right")[(n + t) % 2]}, headers=s)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    res = client.get("/admin/api/study/s1/results", headers=auth).json()
    rows = Store(studies / "s1" / "study.db").answers()
    assert res == {**res, **summarize(load_manifest(studies / "s1"), rows)}
    scored = [r for r in rows if not r["practice"]]
    assert res["answers"] == len(scored) == 20 and res["practice"] == 10 and res["participants"] == 5
    for m in ("example", "parametric"):
        mine = [r for r in scored if r["method"] == m]
        x = res["methods"][m]
        assert x["n"] == len(mine) and x["chosen"] == sum(1 - r["chose_real"] for r in mine)
        assert (x["lo"], x["hi"]) == pytest.approx(wilson(x["chosen"], x["n"]))
    assert sum(v["n"] for by in res["material"].values() for v in by.values()) == 20
    table = list(csv.DictReader(io.StringIO(client.get("/admin/study/s1/answers.csv", headers=auth).text)))
    assert len(table) == 30 and {(int(r["participant"]), int(r["trial"])) for r in table} == {
        (r["participant"], r["trial"]) for r in rows}


def test_study_results_command(client, studies, tmp_path, capsys):
    s = join(client)
    for t in range(6):
        client.post("/study/s1/api/answer", json={"trial": t, "choice": "left"}, headers=s)
    out_csv = tmp_path / "answers.csv"
    assert main(["study", "results", str(studies / "s1"), "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "| example |" in out and "| material |" in out and "Wilson" in out
    assert len(out_csv.read_text().splitlines()) == 7
    assert main(["study", "results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("vis: error:") and "study.json" in err
    (tmp_path / "study.json").write_text("{not json")
    assert main(["study", "results", str(tmp_path)]) == 2
    assert "study.json" in capsys.readouterr().err
    m = json.loads((studies / "s1" / "study.json").read_text())
    m["clips"][0]["real"] = "../../etc/passwd"  # a hand-edited manifest cannot serve files outside the study
    (tmp_path / "study.json").write_text(json.dumps(m))
    assert main(["study", "results", str(tmp_path)]) == 2
    assert "not a path inside the study folder" in capsys.readouterr().err


def no_leftovers(tmp_path):
    return [p.name for p in (tmp_path / "jobs").iterdir()] == []


def test_bad_uploads_are_refused_and_leave_nothing(client, tmp_path):
    def post(body, name, **kw):
        return client.post("/api/jobs?method=example", content=body, headers={"X-Filename": name, **kw})

    r = post(b"x" * (BIG + 1), "big.mp4")  # declared too long
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = client.post("/api/jobs", content=(b"x" * 4096 for _ in range(40)), headers={"X-Filename": "big.mp4"})
    assert r.status_code == 413  # sent too long, without a declared length
    r = post(b"hello, I am text\n" * 100, "notes.mp4")
    assert r.status_code == 415 and "not a video" in r.json()["detail"]
    wav = tmp_path / "sound.wav"
    write_wav(wav, clicks([0.1], 0.3, sr=16_000), 16_000)
    r = post(wav.read_bytes(), "sound.wav")
    assert r.status_code == 415 and "not a video type" in r.json()["detail"]
    r = post(wav.read_bytes(), "sound.mp4")  # a wav renamed
    assert r.status_code == 415 and "no video stream" in r.json()["detail"]
    for name in ("../../etc/passwd.mp4", "a/b.mp4", "..\\x.mp4", "x/../../y.mp4", "..%2F..%2Fetc%2Fpasswd.mp4"):
        r = post(b"\x00" * 100, name)
        assert r.status_code == 400 and "path" in r.json()["detail"], name
    assert post(b"", "empty.mp4").status_code == 400
    assert client.post("/api/jobs?method=loud", content=b"x", headers={"X-Filename": "a.mp4"}).status_code == 422
    assert client.get("/api/jobs/0123456789abcdef").status_code == 404
    assert client.get("/jobs/0123456789abcdef/with-sound.mp4").status_code == 404
    assert no_leftovers(tmp_path)
    assert not list((tmp_path / "studies").rglob("passwd*"))


def test_an_upload_can_lower_the_impact_threshold(tiny_run, tiny_data, studies, tmp_path):
    from vis.web.sounds import load_predictor

    predictor = load_predictor(tiny_run)
    app = build_app(studies=studies, admin_token=ADMIN, predictor=predictor, jobs_dir=tmp_path / "jobs",
                    max_upload=10**8)
    video = next(tiny_data.glob("*_denoised.mp4")).read_bytes()
    with TestClient(app) as c:
        info = c.get("/api/info").json()
        fitted = info["threshold"]
        assert fitted == predictor.onsets.threshold  # what the page shows, with the low-rate detector's
        low = predictor.onsets.low_rate
        assert low is not None and info["threshold_low_rate"] == low.threshold
        found = {}
        for thr in (None, 0.001, 0.999):
            given = "" if thr is None else f"&threshold={thr}"  # none given: the fitted one
            r = c.post(f"/api/jobs?method=parametric{given}", content=video, headers={"X-Filename": "v.mp4"})
            assert r.status_code == 200, r.text
            for _ in range(1200):
                view = c.get(f"/api/jobs/{r.json()['job']}").json()
                if view["state"] in ("done", "failed"):
                    break
                time.sleep(0.05)
            assert view["state"] == "done" and view["threshold"] == (fitted if thr is None else thr), view
            found[thr] = view["impacts"]
        assert found[0.001] > found[0.999]  # a lower threshold keeps fainter impacts
        for bad in ("0", "1.5", "nan"):
            r = c.post(f"/api/jobs?threshold={bad}", content=video, headers={"X-Filename": "v.mp4"})
            assert r.status_code == 422 and "threshold" in str(r.json()["detail"]), r.text
    assert predictor.onsets.threshold == fitted  # each upload's own: the server's model is left as fitted


def test_no_model_means_no_demo(studies, tmp_path):
    with TestClient(build_app(studies=studies, admin_token=ADMIN, jobs_dir=tmp_path / "j")) as c:
        assert c.get("/api/info").json()["model"] is None
        r = c.post("/api/jobs", content=b"x", headers={"X-Filename": "a.mp4"})
        assert r.status_code == 503 and "--model" in r.json()["detail"]
        assert c.get("/").status_code == 200 and "Upload a video" in c.get("/").text


def test_a_client_leaving_mid_upload_leaves_nothing(studies, tmp_path):
    app = build_app(studies=studies, admin_token=ADMIN, predictor=object(), jobs_dir=tmp_path / "jobs",
                    max_upload=10_000_000)
    with live_server(app) as url:
        host, port = url.removeprefix("http://").split(":")
        for _ in range(3):  # one at a time: wait until the server is receiving, leave, wait until it cleaned up
            with socket.create_connection((host, int(port))) as s:
                s.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nX-Filename: v.mp4\r\n"
                          b"Content-Length: 5000000\r\n\r\n" + b"\x00" * 200_000)
                for _ in range(100):  # its temporary folder is there
                    if not no_leftovers(tmp_path):
                        break
                    time.sleep(0.05)
                assert not no_leftovers(tmp_path)
            for _ in range(50):  # the server notices the closed connection
                if no_leftovers(tmp_path):
                    break
                time.sleep(0.1)
        assert no_leftovers(tmp_path)
        assert httpx.get(url + "/api/info").status_code == 200  # and goes on serving
        assert json.loads(httpx.get(url + "/study/s1/api/about").text)["trials"] == 6


def test_jobs_keep_the_last_outputs_and_refuse_a_long_queue(tmp_path):
    jobs = Jobs(tmp_path / "jobs", max_jobs=2)
    folders = []
    for n in range(4):
        folder = tmp_path / "jobs" / f"job{n}"
        folder.mkdir()
        folders.append(folder)
        job = jobs.submit("predict", lambda job: {"n": 1}, folder=folder)
        for _ in range(100):
            if job.finished:
                break
            time.sleep(0.01)
    assert [f.exists() for f in folders] == [False, False, True, True]  # the two oldest outputs are gone
    failing = jobs.submit("predict", lambda job: 1 / 0, folder=(tmp_path / "jobs" / "bad"))
    for _ in range(100):
        if failing.finished:
            break
        time.sleep(0.01)
    assert failing.state == "failed" and "ZeroDivisionError" in failing.error
    gate = threading.Event()
    blocked = [jobs.submit("x", lambda job: gate.wait(5) and {}) for _ in range(MAX_PENDING)]
    for _ in range(100):
        if blocked[0].state == "running":
            break
        time.sleep(0.01)
    refused = tmp_path / "jobs" / "refused"  # an upload received while the queue filled up
    refused.mkdir()
    with pytest.raises(HTTPException) as e:
        jobs.submit("x", lambda job: {}, folder=refused)
    assert e.value.status_code == 503 and not refused.exists()  # nothing of it is kept
    with pytest.raises(HTTPException) as e:
        jobs.check_capacity()  # what the upload route asks before reading a byte
    assert e.value.status_code == 503
    gate.set()
    jobs.close()
    assert [j.state for j in blocked] == ["done"] + ["queued"] * (MAX_PENDING - 1), [j.view() for j in blocked]
    assert not list((tmp_path / "jobs").iterdir())  # every job folder removed; the folder the user gave stays


def test_the_real_side_is_drawn_per_participant_trial():
    m = {"clips": [{"id": f"c{i}", "video": f"v{i}"} for i in range(40)], "methods": ["example", "parametric"],
         "practice": 5, "trials": 30}
    sides = [t["real_side"] for seed in range(5) for t in assign_trials(m, random.Random(seed))]
    assert set(sides) == {"left", "right"} and 0.3 < sides.count("left") / len(sides) < 0.7
