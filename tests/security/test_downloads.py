"""Downloads against hostile servers (issue 23 class 3), on loopback only: a server that sends
more than the record's size, never stops, drips a byte at a time, lies about its length,
answers garbage or hangs up — every fetch ends within a bound with one :class:`WeightsError`
line, takes no more bytes than the record's size plus one, and leaves nothing but the lock
file in the cache. A second fetcher waiting on the lock gives up after a bounded wait."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import torch

from tst_core import hub
from tst_core.errors import WeightsError
from tst_core.records import WeightsRecord

BODY = bytes(range(256)) * 16  # 4 KiB
SHA = hashlib.sha256(BODY).hexdigest()

#: a response: a generator of byte strings the server sends, with pauses of ``sleep`` seconds
Script = Callable[["Raw"], Iterator[bytes | float]]


@dataclass
class Raw:
    """A loopback TCP server that answers every connection with ``script`` and counts what it
    managed to send."""

    script: Script
    sent: int = 0
    port: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Raw:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        return self

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            while not self.stop.is_set():
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request
                for item in self.script(self):
                    if self.stop.is_set():
                        return
                    if isinstance(item, float):
                        time.sleep(item)
                    else:
                        conn.sendall(item)
                        self.sent += len(item)
            except OSError:
                pass  # the client gave up: what these tests want


def head(length: int | None = None, status: bytes = b"200 OK") -> bytes:
    text = b"HTTP/1.1 " + status + b"\r\nConnection: close\r\n"
    if length is not None:
        text += b"Content-Length: " + str(length).encode() + b"\r\n"
    return text + b"\r\n"


def endless(raw: Raw) -> Iterator[bytes | float]:
    yield head()
    while True:
        yield BODY


def more_than_declared(raw: Raw) -> Iterator[bytes | float]:
    yield head(len(BODY))
    yield BODY + b"x" * 100_000


def declares_too_much(raw: Raw) -> Iterator[bytes | float]:
    yield head(10**12)
    while True:
        yield BODY


def declares_nonsense(raw: Raw) -> Iterator[bytes | float]:
    yield b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n"
    while True:
        yield BODY


def drip(raw: Raw) -> Iterator[bytes | float]:
    yield head(len(BODY))
    for b in BODY:
        yield bytes([b])
        yield 0.05


def silent_after_headers(raw: Raw) -> Iterator[bytes | float]:
    yield head(len(BODY))
    yield 30.0


def garbage(raw: Raw) -> Iterator[bytes | float]:
    yield b"\x00\xff garbage, not HTTP\r\n\r\n" * 10


def header_flood(raw: Raw) -> Iterator[bytes | float]:
    yield b"HTTP/1.1 200 OK\r\n"
    for i in range(200):
        yield f"X-{i}: {'a' * 60}\r\n".encode()
    yield b"\r\n" + BODY


def redirect_loop(raw: Raw) -> Iterator[bytes | float]:
    yield b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"


def wrong_bytes(raw: Raw) -> Iterator[bytes | float]:
    yield head(len(BODY))
    yield bytes(len(BODY))


def hang_up(raw: Raw) -> Iterator[bytes | float]:
    yield head(len(BODY))
    yield BODY[:100]


def server_error(raw: Raw) -> Iterator[bytes | float]:
    yield head(5, b"500 Internal Server Error") + b"oops!"


#: name -> (script, a phrase of the one-line error)
SERVERS: dict[str, tuple[Script, str]] = {
    "never stops": (endless, "sends more than the 4096 bytes"),
    "declares a terabyte": (declares_too_much, "announces 1000000000000 bytes"),
    "declares a nonsense length": (declares_nonsense, "sends more than the 4096 bytes"),
    "drips a byte at a time": (drip, "too slow"),
    "falls silent": (silent_after_headers, "timed out"),
    "answers garbage": (garbage, "cannot fetch"),
    "floods headers": (header_flood, "cannot fetch"),
    "redirects forever": (redirect_loop, "cannot fetch"),
    "sends the wrong bytes": (wrong_bytes, "SHA-256"),
    "hangs up early": (hang_up, "bytes"),
    "fails": (server_error, "HTTP 500"),
}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.delenv(hub.OFFLINE_ENV, raising=False)
    monkeypatch.setenv(hub.TIMEOUT_ENV, "1")
    monkeypatch.setattr(hub, "MIN_RATE", 4096)  # a 4 KiB record: about 2 s in all
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def record(port: int, size: int | None = len(BODY)) -> WeightsRecord:
    return WeightsRecord(
        name="tiny",
        url=f"http://127.0.0.1:{port}/tiny.pth",
        plugin="test",
        architecture="tiny",
        licence="none",
        sha256=SHA,
        size=size,
    )


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_a_hostile_server_is_one_line_within_a_bound(cache, name):
    script, phrase = SERVERS[name]
    raw = Raw(script).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(WeightsError) as err:
            hub.fetch(record(raw.port), progress=False)
    finally:
        raw.stop.set()
    seconds = time.monotonic() - t0
    msg = str(err.value)
    assert "\n" not in msg and phrase in msg, msg
    assert seconds < 10, seconds
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.pth.lock"]


def test_bytes_after_the_declared_length_are_never_read(cache):
    raw = Raw(more_than_declared).start()
    try:
        path = hub.fetch(record(raw.port, size=None), progress=False)
    finally:
        raw.stop.set()
    assert path.read_bytes() == BODY


def test_a_record_without_a_size_is_bounded(cache, monkeypatch):
    monkeypatch.setattr(hub, "MAX_UNKNOWN", 1 << 20)
    raw = Raw(endless).start()
    try:
        with pytest.raises(WeightsError, match="sends more than the 1048576 bytes"):
            hub.fetch(record(raw.port, size=None), progress=False)
    finally:
        raw.stop.set()
    assert raw.sent < 4 << 20  # the client stopped reading; the socket buffers hold the rest


def test_a_second_fetcher_gives_up_waiting_for_the_lock(cache):
    from filelock import FileLock

    cache.mkdir(parents=True)
    held = FileLock(str(cache / "tiny.pth") + ".lock")
    held.acquire()
    t0 = time.monotonic()
    try:
        with pytest.raises(WeightsError, match="another process has been fetching tiny"):
            hub.fetch(record(9), progress=False)
    finally:
        held.release()
    assert time.monotonic() - t0 < 10


def test_a_mirror_that_is_a_fifo_is_refused(cache, monkeypatch, tmp_path):
    import os

    folder = tmp_path / "mirror"
    folder.mkdir()
    os.mkfifo(folder / "tiny.pth")
    monkeypatch.setenv(hub.MIRROR_ENV, folder.as_uri())
    with pytest.raises(WeightsError, match="not a regular file"):
        hub.fetch(record(9), progress=False)
