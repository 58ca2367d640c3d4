"""Load test of a listening study on loopback: many participants answering at once, with retries and double
submits, against `vis serve` in its own process. Checks that no answer is lost or stored twice, and prints
the answer latency (p50 / p95).

    python benchmarks/study_load.py                       # 100 participants x 40 answers (the default)
    python benchmarks/study_load.py --participants 20 --answers 10 --json load.json

Each participant joins, then answers its trials in order on its own keep-alive connection (a second one
for a double submit, as a browser opens). Some answers are sent twice at once (a double click), some are
cut off by a short client timeout and sent again (a retry after a lost response), some are sent again
later with the other choice. Afterwards the study's database must hold exactly one row per (participant,
trial), the choice the server acknowledged. The study has no media (no clip is played): this measures
the answer path. The client speaks HTTP/1.1 on asyncio streams itself, because httpx's own CPU time, in
one process for 100 participants, made most of the latency it measured. Exit status 1 when an answer is
lost, duplicated or changed, or the run goes past --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vis.web.study import new_study  # noqa: E402

DOUBLE_P = 0.1  # share of answers sent twice at once
RETRY_P = 0.1  # share of answers cut off by a short client timeout, then sent again
CHANGE_P = 0.05  # share of answers sent again later with the other choice
CUT_S = 0.004  # the short timeout of a "lost response" is drawn up to 4 ms (some are stored, some not)
PRACTICE = 5


def make_study(root: Path, answers: int, *, seed: int = 0) -> Path:
    """A study whose participants get ``answers`` trials each (PRACTICE of them practice), without media."""
    clips = [{"id": f"c{v:04d}", "video": f"v{v:03d}", "time": 1.0, "start": 0.0, "material": "wood",
              "action": "hit", "real": "clips/none.mp4", "sounds": {"example": "clips/none.mp4",
                                                                     "parametric": "clips/none.mp4"}}
             for v in range(answers)]
    folder = root / "load"
    folder.mkdir(parents=True)
    new_study(folder, clips, methods=["example", "parametric"], practice=min(PRACTICE, answers),
              trials=max(1, answers - PRACTICE), seed=seed)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(studies: Path, port: int, *, wait_s: float = 60.0, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """`vis serve --studies STUDIES --port PORT` in a new process, returned once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "vis", "serve", "--studies", str(studies), "--port", str(port),
                             "--join-limit", "1000000"],
                            stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vis serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("vis serve did not start")


class Connection:
    """A minimal HTTP/1.1 keep-alive client connection (JSON in, JSON out, Content-Length bodies)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None,
                      headers: dict | None = None) -> tuple[int, dict]:
        """Send one request; a kept-alive connection the server has closed meanwhile (its idle timeout) is
        opened again and the request sent once more, as browsers do."""
        reused = self.writer is not None
        try:
            return await self._request(method, path, body, headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            return await self._request(method, path, body, headers)

    async def _request(self, method: str, path: str, body: dict | None, headers: dict | None) -> tuple[int, dict]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.writer.write(head.encode() + b"\r\n" + data)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            raw = await self.reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in raw.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            payload = await self.reader.readexactly(length)
        except BaseException:
            self.close()  # a cut-off request: the connection is dropped, as a browser does
            raise
        return int(status_line.split()[1]), json.loads(payload)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def participant(host: str, port: int, study: str, n_answers: int, rng: random.Random,
                      latencies: list[float], acked: dict, counts: dict, think: float = 0.0) -> None:
    main, spare = Connection(host, port), Connection(host, port)
    status, r = await main.request("POST", f"/study/{study}/api/join")
    if status != 200:
        raise RuntimeError(f"join: {status} {r}")
    token = r["session"]
    headers = {"X-Session": token}

    async def send(trial: int, choice: str, *, conn: Connection = main, timeout: float = 30.0) -> dict | None:
        t0 = time.perf_counter()
        try:
            status, r = await asyncio.wait_for(conn.request("POST", f"/study/{study}/api/answer",
                                                            {"trial": trial, "choice": choice}, headers), timeout)
        except TimeoutError:
            counts["cut"] += 1
            return None
        latencies.append(time.perf_counter() - t0)
        counts["requests"] += 1
        if status != 200:
            raise RuntimeError(f"answer: {status} {r}")
        return r

    for trial in range(n_answers):
        if think:
            await asyncio.sleep(rng.uniform(0, 2 * think))
        choice = rng.choice(["left", "right"])
        u = rng.random()
        if u < DOUBLE_P:
            replies = await asyncio.gather(send(trial, choice), send(trial, rng.choice(["left", "right"]), conn=spare))
            counts["doubles"] += 1
        elif u < DOUBLE_P + RETRY_P:
            first = await send(trial, choice, timeout=rng.uniform(0, CUT_S))
            replies = [first, await send(trial, choice)]
            counts["retries"] += 1
        else:
            replies = [await send(trial, choice)]
        got = {x["choice"] for x in replies if x is not None}
        if len(got) != 1:
            counts["disagreements"] += 1
        acked[(token, trial)] = got.pop() if got else None
        if trial and rng.random() < CHANGE_P:  # change an earlier answer: the first one must stay
            earlier = rng.randrange(trial)
            other = "right" if acked[(token, earlier)] == "left" else "left"
            x = await send(earlier, other)
            counts["changes"] += 1
            if x is None or x["choice"] != acked[(token, earlier)] or x["stored"]:
                counts["disagreements"] += 1
    status, state = await main.request("GET", f"/study/{study}/api/state", headers=headers)
    if status != 200 or state["next"] is not None:
        counts["unfinished"] += 1
    main.close()
    spare.close()


async def drive(port: int, participants: int, answers: int, seed: int,
                think: float = 0.0) -> tuple[list[float], dict, dict]:
    latencies: list[float] = []
    acked: dict = {}
    counts = {"requests": 0, "doubles": 0, "retries": 0, "changes": 0, "cut": 0, "disagreements": 0, "unfinished": 0}
    await asyncio.gather(*(participant("127.0.0.1", port, "load", answers, random.Random(seed * 100_003 + i),
                                       latencies, acked, counts, think) for i in range(participants)))
    return latencies, acked, counts


def check(db: Path, acked: dict, participants: int, answers: int) -> dict:
    """Compare the study's database with what the clients were told."""
    from vis.web.store import hash_token

    con = sqlite3.connect(db)
    ids = dict(con.execute("SELECT token_hash, id FROM participants").fetchall())
    rows = con.execute("SELECT participant, trial, choice FROM answers").fetchall()
    con.close()
    stored = {(p, t): c for p, t, c in rows}
    expected = {(ids[hash_token(token)], trial): choice for (token, trial), choice in acked.items()}
    lost = sum(1 for k in expected if k not in stored)
    changed = sum(1 for k, c in expected.items() if k in stored and c is not None and stored[k] != c)
    return {"rows": len(rows), "unique_pairs": len(stored), "expected": participants * answers, "lost": lost,
            "duplicated": len(rows) - len(stored), "changed": changed, "participants_db": len(ids)}


def run(*, participants: int = 100, answers: int = 40, seed: int = 0, timeout: float = 120.0,
        think: float = 0.0) -> dict:
    """The whole load test; returns its numbers (``ok`` when nothing was lost, duplicated or changed in time)."""
    with tempfile.TemporaryDirectory(prefix="vis-load-") as tmp:
        folder = make_study(Path(tmp), answers, seed=seed)
        port = free_port()
        proc = start_server(Path(tmp), port)
        try:
            t0 = time.perf_counter()
            latencies, acked, counts = asyncio.run(asyncio.wait_for(
                drive(port, participants, answers, seed, think), timeout))
            seconds = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        db = check(folder / "study.db", acked, participants, answers)
    ms = np.asarray(latencies) * 1000
    out = {"participants": participants, "answers_each": answers, "think_s": think, "seconds": round(seconds, 2),
           "answer_requests": counts["requests"], "requests_per_s": round(counts["requests"] / seconds, 1),
           "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
           "max_ms": round(float(ms.max()), 1), **{k: v for k, v in counts.items() if k != "requests"}, **db}
    out["ok"] = (db["lost"] == 0 and db["duplicated"] == 0 and db["changed"] == 0 and db["rows"] == db["expected"]
                 and db["unique_pairs"] == db["rows"] and counts["disagreements"] == 0 and counts["unfinished"] == 0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--participants", type=int, default=100)
    ap.add_argument("--answers", type=int, default=40, help="answers per participant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds the participants may take in all")
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds a participant waits before each answer "
                    "(default 0: every participant always has a request in flight, the worst case)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    r = run(participants=args.participants, answers=args.answers, seed=args.seed, timeout=args.timeout,
            think=args.think)
    print(f"{r['participants']} participants x {r['answers_each']} answers (think {r['think_s']} s) "
          f"in {r['seconds']} s: "
          f"{r['answer_requests']} answer requests ({r['doubles']} double submits, {r['retries']} retries, "
          f"{r['cut']} cut off, {r['changes']} changes), {r['requests_per_s']}/s; latency p50 {r['p50_ms']} ms, "
          f"p95 {r['p95_ms']} ms, max {r['max_ms']} ms")
    print(f"database: {r['rows']} rows = {r['unique_pairs']} unique (participant, trial) of {r['expected']}; "
          f"lost {r['lost']}, duplicated {r['duplicated']}, changed {r['changed']} -> {'OK' if r['ok'] else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
