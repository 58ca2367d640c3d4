"""`vis serve` refuses what a hostile page or client sends (issue 24, item 8): admin POSTs and demo uploads from
another origin (403), a Host that is not the address served (DNS rebinding, 403), and more study joins or
uploads from one client than a person makes (429, one line, with Retry-After)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web_helpers import ADMIN, fake_study
from vis.web.guard import LIMITS, Guard, allowed_hosts
from vis.web.serve import build_app


def app_with(tmp_path, **kwargs):
    fake_study(tmp_path / "studies", "s1")
    return build_app(studies=tmp_path / "studies", admin_token=ADMIN, predictor=None, jobs_dir=tmp_path / "jobs",
                     **kwargs)


def test_admin_posts_and_uploads_from_another_origin_are_refused(tmp_path):
    with TestClient(app_with(tmp_path), base_url="http://127.0.0.1:8000") as c:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
            r = c.post("/admin/api/study/s1/close", headers={**auth, "Origin": origin})
            assert r.status_code == 403 and "another site" in r.json()["detail"], r.text
            r = c.post("/api/jobs", headers={"Origin": origin, "X-Filename": "a.mp4"}, content=b"x")
            assert r.status_code == 403
        assert c.get("/admin/api/studies", headers=auth).json()["studies"][0]["closed"] is False
        # the server's own pages (same origin), and clients that send no Origin (curl), go through
        r = c.post("/admin/api/study/s1/close", headers={**auth, "Origin": "http://127.0.0.1:8000"})
        assert r.status_code == 200 and r.json()["closed"] is True
        assert c.post("/api/jobs", headers={"X-Filename": "a.mp4"}, content=b"x").status_code == 503  # no model
        # a participant's requests are not the admin's: a study page may be embedded elsewhere
        assert c.post("/study/s1/api/join", headers={"Origin": "http://evil.example"}).status_code == 409  # closed


@pytest.mark.parametrize("served, extra, ok, refused", [
    ("127.0.0.1", None, ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST"], ["evil.example:8000",
                                                                                        "10.0.0.5:8000", ""]),
    ("::1", None, ["[::1]:8000", "localhost"], ["attacker.test"]),
    ("192.168.1.20", ["vis.lab"], ["192.168.1.20:8000", "vis.lab"], ["127.0.0.1:8000", "evil.example"]),
    ("0.0.0.0", None, ["anything:8000", "10.1.1.1"], []),
    ("0.0.0.0", ["vis.lab"], ["vis.lab:8000"], ["evil.example"]),
])
def test_a_host_that_is_not_the_address_served_is_refused(tmp_path, served, extra, ok, refused):
    with TestClient(app_with(tmp_path, hosts=allowed_hosts(served, extra))) as c:
        for host in ok:
            assert c.get("/api/info", headers={"Host": host}).status_code == 200, host
        for host in refused:
            r = c.get("/api/info", headers={"Host": host})
            assert r.status_code == 403 and "not the address this server serves" in r.json()["detail"], host


def test_joins_and_uploads_are_rate_limited_per_client(tmp_path):
    now = [0.0]
    app = app_with(tmp_path, limits={"join": (3, 60.0), "upload": (2, 60.0)})
    with TestClient(app) as c:
        guard = app.middleware_stack
        while not isinstance(guard, Guard):
            guard = guard.app
        guard.clock = lambda: now[0]
        codes = [c.post("/study/s1/api/join").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post("/study/s1/api/join")
        assert r.status_code == 429 and "too many joins" in r.json()["detail"] and r.headers["retry-after"] == "61"
        assert [c.post("/api/jobs", headers={"X-Filename": "a.mp4"}, content=b"x").status_code
                for _ in range(3)] == [503, 503, 429]
        now[0] = 61.0  # the window has passed
        assert c.post("/study/s1/api/join").status_code == 200
    assert LIMITS["join"][0] >= 10 and LIMITS["upload"][0] >= 5  # what `vis serve` uses: room for a person
