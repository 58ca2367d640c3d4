"""What ``vis serve`` refuses before a request reaches its page: a Host that is not the address served (DNS
rebinding: a page of another site whose name now points at this machine), an admin POST or a demo upload sent
by a page of another origin (the Origin header), and more study joins or uploads from one client than a
person makes (a sliding window per client address). An ASGI middleware: uploads stream through untouched.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections import deque

LOOPBACK = ("127.0.0.1", "::1", "localhost")
ANY = ("0.0.0.0", "::", "")
# (requests, seconds) per client address: joining a study, and uploading a video to the demo
LIMITS = {"join": (20, 60.0), "upload": (10, 60.0)}


def allowed_hosts(host: str, extra: list[str] | None = None) -> set[str] | None:
    """The names a request's Host may give for a server listening on ``host`` (None: any, for a server on every
    interface without ``--allowed-host``). Loopback takes its aliases."""
    names = {h.lower() for h in extra or []}
    if host in ANY:
        return names or None
    return names | ({*LOOPBACK} if host in LOOPBACK else {host.lower()})


def _hostname(value: str) -> str:
    """``HOST[:PORT]`` or ``[V6]:PORT`` to the host name, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _kind(method: str, path: str) -> str | None:
    if method != "POST":
        return None
    if path == "/api/jobs":
        return "upload"
    if path.startswith("/study/") and path.endswith("/api/join"):
        return "join"
    if path.startswith("/admin"):
        return "admin"
    return None


class Guard:
    """ASGI middleware: Host (``hosts``; None: any), Origin (admin POSTs and uploads) and rate ``limits``
    ({kind: (requests, seconds)}; None: none)."""

    def __init__(self, app, *, hosts: set[str] | None = None, limits: dict[str, tuple[int, float]] | None = None,
                 clock=time.monotonic) -> None:
        self.app, self.hosts, self.limits, self.clock = app, hosts, limits, clock
        self.seen: dict[tuple[str, str], deque] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return await _refuse(send, 403, f"Host {host[:80]!r} is not the address this server serves "
                                 "(start it with --allowed-host NAME to take another name)")
        kind = _kind(scope["method"], scope["path"])
        origin = headers.get("origin")
        if kind in ("admin", "upload") and origin is not None:
            netloc = urllib.parse.urlsplit(origin).netloc.lower()
            if origin == "null" or netloc != host.lower():
                return await _refuse(send, 403, f"a request from another site ({origin[:80]}) is refused: "
                                     "use the pages this server serves")
        if self.limits and kind in self.limits:
            n, window = self.limits[kind]
            client = (scope.get("client") or ("?", 0))[0]
            now = self.clock()
            times = self.seen.setdefault((kind, client), deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= n:
                wait = int(times[0] + window - now) + 1
                what = "joins" if kind == "join" else "uploads"
                return await _refuse(send, 429, f"too many {what} from this address ({n} in {window:g} s); "
                                     f"try again in {wait} s", [(b"retry-after", str(wait).encode())])
            times.append(now)
            if len(self.seen) > 10_000:  # forget clients that went quiet
                self.seen = {k: v for k, v in self.seen.items() if v and v[-1] > now - window}
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
