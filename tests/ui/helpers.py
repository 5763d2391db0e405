"""In-process ``tst ui``: the service over the test plugins, served by uvicorn on a thread, and
a small HTTP client (urllib) that sends what the page sends."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from tst_core.plugins import Host, load_host

from .. import fakes
from . import slow


def plugin_host() -> Host:
    """The installed plugins plus ``fake-boxes``/``fake-fill`` (tests.fakes) and ``slow``."""
    return load_host(extra=[("tests-fakes", fakes), ("tests-slow", slow)])


def make_service(tmp: Path, *, styles: Path | None = None, abandon_after: float = 30.0, **kw: Any):
    from tst_ui.service import UiService
    from tst_ui.spec import Settings

    settings = Settings(**{"segmenter": "fake-boxes", **kw})
    return UiService(
        plugin_host(),
        settings,
        styles=styles,
        workdir=tmp / "work",
        max_upload=200_000,
        abandon_after=abandon_after,
    )


def paintings(folder: Path) -> Path:
    """Two flat paintings, ``red.png`` and ``blue.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 40), (200, 30, 30)).save(folder / "red.png")
    Image.new("RGB", (40, 40), (30, 30, 200)).save(folder / "blue.png")
    return folder


def cin_model(path: Path, paintings: list[Path]) -> Path:
    """A CIN model file that knows ``paintings`` by their hashes: a random Johnson net whose
    γ/β rows (one per painting, named after it) differ, so each style paints differently."""
    import torch
    from tst_fast.formats import Model, StyleInfo, file_sha256, load_model, save_model
    from tst_fast.network import TransformNet

    from ..plugins.fast_reference import write_tf_folder

    torch.manual_seed(0)
    base = load_model(write_tf_folder(path.parent / f"{path.stem}-base")).net.state_dict()
    net = TransformNet("johnson-tf", len(paintings))
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if key.startswith("convs."):
                value.copy_(base[key])
            else:
                value.copy_(base[key].expand_as(value) + 0.5 * torch.randn_like(value))
    styles = tuple(StyleInfo(p.stem, p.name, file_sha256(p)) for p in paintings)
    return save_model(Model(net, styles), path)


def photo_upload(service, tmp: Path, size: tuple[int, int] = (80, 60)):
    """Add a photo as an upload would (a copy under the service's uploads folder)."""
    src = tmp / "photo.png"
    Image.new("RGB", size, (120, 140, 90)).save(src)
    dest = service.uploads / "t" / "photo.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return service.add_photo(dest)


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def serving(service, allowed_hosts: list[str] | None = None) -> Iterator[str]:
    """Serve ``service`` on a free loopback port from a thread; yields the base URL."""
    import uvicorn
    from tst_ui.app import create_app
    from tst_ui.command import listen

    sock = listen("127.0.0.1", 0)
    app = create_app(service, allowed_hosts or ["127.0.0.1", "localhost"])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    service.stopping = lambda: bool(server.should_exit)  # as tst ui does
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="the server to start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(20)


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(status, JSON or text) of a request as the page makes it (``X-Tst-Ui: 1``; bytes are an upload)."""
    sent = {"X-Tst-Ui": "1", **(headers or {})}
    data = None
    if isinstance(body, bytes):
        data = body
    elif body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, _decode(r.read())
    except urllib.error.HTTPError as err:
        return err.code, _decode(err.read())


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        return data.decode(errors="replace")  # starlette's plain 404
