"""A study's participants and answers in SQLite (``STUDY/study.db``, WAL mode, safe under many threads).

Tables::

    meta(key, value)                      closed = "1" once the study takes no more answers
    participants(id, token_hash, created, expires, trials)
    answers(participant, trial, clip, video, method, practice, real_side, choice, chose_real, answered)
        UNIQUE(participant, trial)

Session tokens are random (``secrets.token_urlsafe``) and only their SHA-256 is stored. ``trials`` is the
JSON list of the participant's trials (:func:`vis.web.study.assign_trials`). Answering is idempotent: the
first answer to a (participant, trial) is kept, and a retry or a double submit gets that stored answer
back. Each thread has its own connection (made on its first call), so the store can be shared by the
server's threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vis.errors import VisError

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another's lock before giving up
TOKEN_BYTES = 24  # session and admin tokens: 24 random bytes, 32 URL-safe characters

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    trials TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    participant INTEGER NOT NULL REFERENCES participants(id),
    trial INTEGER NOT NULL,
    clip TEXT NOT NULL,
    video TEXT NOT NULL,
    method TEXT NOT NULL,
    practice INTEGER NOT NULL,
    real_side TEXT NOT NULL,
    choice TEXT NOT NULL,
    chose_real INTEGER NOT NULL,
    answered REAL NOT NULL,
    UNIQUE (participant, trial)
);
"""
ANSWER_COLUMNS = ("participant", "trial", "clip", "video", "method", "practice", "real_side", "choice",
                  "chose_real", "answered")


def hash_token(token: str) -> str:
    """What the store keeps of a session token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Participant:
    """One participant: ``trials`` as dealt (list of dicts), times in seconds since the epoch."""

    id: int
    created: float
    expires: float
    trials: list[dict]

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires


class Store:
    """The SQLite file of one study. Creating it makes the file and its tables (WAL journal)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._local = threading.local()
        if not self.path.parent.is_dir():
            raise VisError(f"{self.path.parent}: study folder does not exist")
        try:
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise VisError(f"{self.path}: not a study database ({e})") from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (autocommit: each statement is its own transaction)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                 check_same_thread=True)
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
            db.row_factory = sqlite3.Row
            self._local.db = db
        yield db

    # ------------------------------------------------------------------------------------ participants

    def join(self, trials: list[dict], *, session_s: float) -> tuple[int, str]:
        """A new participant with ``trials``; returns their id and session token (valid ``session_s``)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = time.time()
        with self._connect() as db:
            cur = db.execute("INSERT INTO participants (token_hash, created, expires, trials) VALUES (?, ?, ?, ?)",
                             (hash_token(token), now, now + session_s, json.dumps(trials)))
        assert cur.lastrowid is not None
        return cur.lastrowid, token

    def participant(self, token: str) -> Participant | None:
        """The participant holding ``token``, or None for a token this study never gave out."""
        with self._connect() as db:
            row = db.execute("SELECT id, created, expires, trials FROM participants WHERE token_hash = ?",
                             (hash_token(token),)).fetchone()
        if row is None:
            return None
        return Participant(row["id"], row["created"], row["expires"], json.loads(row["trials"]))

    def expire(self, participant: int, *, at: float | None = None) -> None:
        """End a participant's session (now, or at time ``at``)."""
        with self._connect() as db:
            db.execute("UPDATE participants SET expires = ? WHERE id = ?", (time.time() if at is None else at,
                                                                           participant))

    def n_participants(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM participants").fetchone()[0])

    # ------------------------------------------------------------------------------------ answers

    def answer(self, participant: int, trial: int, row: dict) -> tuple[dict, bool]:
        """Store the answer to ``trial`` unless one is stored already; return the stored answer and whether
        this call stored it. ``row`` holds the other :data:`ANSWER_COLUMNS` (``answered`` is set here)."""
        values = {**row, "participant": participant, "trial": trial, "answered": time.time()}
        cols = ", ".join(ANSWER_COLUMNS)
        marks = ", ".join("?" for _ in ANSWER_COLUMNS)
        with self._connect() as db:
            cur = db.execute(f"INSERT INTO answers ({cols}) VALUES ({marks}) "
                             "ON CONFLICT (participant, trial) DO NOTHING",
                             [values[c] for c in ANSWER_COLUMNS])
            stored = db.execute(f"SELECT {cols} FROM answers WHERE participant = ? AND trial = ?",
                                (participant, trial)).fetchone()
        return dict(stored), cur.rowcount == 1

    def answers(self, participant: int | None = None) -> list[dict]:
        """Every stored answer (of one participant when given), by participant then trial."""
        cols = ", ".join(ANSWER_COLUMNS)
        with self._connect() as db:
            if participant is None:
                rows = db.execute(f"SELECT {cols} FROM answers ORDER BY participant, trial").fetchall()
            else:
                rows = db.execute(f"SELECT {cols} FROM answers WHERE participant = ? ORDER BY trial",
                                  (participant,)).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'closed'").fetchone()
        return row is not None and row[0] == "1"

    def close(self) -> None:
        """Take no more answers (answers already stored can still be read back)."""
        with self._connect() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('closed', '1') "
                       "ON CONFLICT (key) DO UPDATE SET value = '1'")
