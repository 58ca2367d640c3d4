"""A scripted pilot of a listening study: participants who always pick the louder clip (RMS of its sound).

    vis study create DATA --model RUN --out /tmp/pilot
    python benchmarks/study_pilot.py /tmp/pilot --participants 40 --screenshots docs

Serves the study's parent folder with `vis serve` on a free loopback port, lets each scripted participant
join, fetch both clips of every trial over HTTP and answer, then prints `vis study results`. A listener who
goes by loudness alone shows whether a method's sound can be told from the real one by its level: a
method chosen as real far below 50 % is too quiet (or too loud, when chosen far above). With
``--screenshots DIR`` it also saves the study page and the results page (Playwright with the system's
chromium) as DIR/study-page.png and DIR/results-page.png.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.study_load import free_port, start_server  # noqa: E402
from vis.data.io import read_audio  # noqa: E402


def rms(data: bytes) -> float:
    """RMS of an mp4's sound."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        a, _ = read_audio(f.name, mono=True)
    return float(np.sqrt(np.mean(np.square(a))))


def louder_participant(client: httpx.Client, base: str) -> int:
    """One participant who always chooses the louder clip; returns how many answers it gave."""
    token = client.post(base + "/api/join").json()["session"]
    h = {"X-Session": token}
    state = client.get(base + "/api/state", headers=h).json()
    for t in state["trials"]:
        loud = {side: rms(client.get(f"{base}/media/{t['trial']}/{side}", headers=h).content)
                for side in ("left", "right")}
        choice = "left" if loud["left"] >= loud["right"] else "right"
        r = client.post(base + "/api/answer", json={"trial": t["trial"], "choice": choice}, headers=h)
        r.raise_for_status()
    return len(state["trials"])


def screenshots(url: str, sid: str, token: str, out: Path) -> None:
    """The study page at its first trial and the results page, as PNGs in ``out``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(f"{url}/study/{sid}/join")
        page.wait_for_selector("#intro:not([hidden])")
        page.click("#begin")
        page.wait_for_selector("#trial:not([hidden])")
        page.wait_for_function("document.getElementById('left').readyState >= 2 && "
                               "document.getElementById('right').readyState >= 2")
        # play both (muted) to 1 s and pause: a frame on screen and no loading spinner over it
        page.evaluate("() => Promise.all(['left', 'right'].map(id => { const v = document.getElementById(id); "
                      "v.muted = true; return v.play(); }))")
        page.wait_for_function("['left', 'right'].every(id => document.getElementById(id).currentTime >= 1.0)")
        page.evaluate("() => { for (const id of ['left', 'right']) document.getElementById(id).pause(); }")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "study-page.png"), full_page=True)
        page.goto(f"{url}/admin?token={token}")
        page.goto(f"{url}/admin/study/{sid}")
        page.wait_for_selector("#methods tbody tr")
        page.screenshot(path=str(out / "results-page.png"), full_page=True)
        browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", type=Path, help="study folder (vis study create --out)")
    ap.add_argument("--participants", type=int, default=40)
    ap.add_argument("--screenshots", type=Path, help="save the study and results pages here")
    ap.add_argument("--csv", type=Path, help="also write one row per answer")
    args = ap.parse_args()
    study = args.study.resolve()
    port = free_port()
    proc = start_server(study.parent, port, stdout=subprocess.PIPE)
    try:
        token = re.search(r"admin token (\S+)", proc.stdout.readline().decode()).group(1)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=60) as client:
            answers = sum(louder_participant(client, f"{url}/study/{study.name}") for _ in range(args.participants))
        print(f"{args.participants} scripted participants (the louder clip is real) gave {answers} answers")
        if args.screenshots:
            screenshots(url, study.name, token, args.screenshots)
            print(f"wrote {args.screenshots}/study-page.png, results-page.png")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    cmd = [sys.executable, "-m", "vis", "study", "results", str(study)] + (["--csv", str(args.csv)] if args.csv else [])
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
