"""A loopback HTTP server that serves small files the way a weights host might: whole, with a
wrong body, cut short, or slowly; it counts requests and bytes sent. No test touches the
internet."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tst_core.records import WeightsRecord


@dataclass
class Route:
    """What one path serves.

    :param mode: ``ok``, ``truncated`` (announces the full length, sends half, hangs up) or
        ``slow`` (``chunk`` bytes every ``delay`` seconds).
    """

    body: bytes
    mode: str = "ok"
    chunk: int = 1024
    delay: float = 0.0


@dataclass
class Loopback:
    """The server's state, shared with the handler threads."""

    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, path: str, body: bytes, **route: object) -> str:
        """Serve ``body`` at ``/path``; returns its URL."""
        self.routes["/" + path] = Route(body, **route)  # type: ignore[arg-type]
        return f"{self.url}/{path}"

    def record(self, path: str, body: bytes, *, digest_of: bytes | None = None, **route: object):
        """A record for ``body`` served at ``/path`` (its SHA-256 is that of ``digest_of``,
        default ``body``)."""
        url = self.serve(path, body, **route)
        sha = hashlib.sha256(body if digest_of is None else digest_of).hexdigest()
        return WeightsRecord(
            name=path.rsplit("/", 1)[-1].split(".")[0],
            url=url,
            plugin="test",
            architecture="tiny",
            licence="none",
            sha256=sha,
        )

    def count(self, path: str) -> int:
        with self.lock:
            return self.requests["/" + path]


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            with state.lock:
                state.requests[self.path] += 1
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            body = route.body[: len(route.body) // 2] if route.mode == "truncated" else route.body
            step = route.chunk if route.mode == "slow" else len(body) or 1
            try:
                for i in range(0, len(body), step):
                    self.wfile.write(body[i : i + step])
                    self.wfile.flush()
                    with state.lock:
                        state.sent[self.path] += len(body[i : i + step])
                    if route.mode == "slow":
                        time.sleep(route.delay)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (killed, or timed out)
            self.close_connection = True

    return Handler


def start() -> tuple[Loopback, ThreadingHTTPServer]:
    state = Loopback()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
