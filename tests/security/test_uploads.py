"""Hostile requests to ``tst ui``: decompression bombs and broken images as uploads, traversal in
their names, and request bodies that would exhaust the JSON reader. Each is a 4xx answer with the
CLI's one line, nothing is kept, and nothing is written outside the uploads folder."""

from __future__ import annotations

import pytest

from ..ui.helpers import call, make_service, paintings, serving
from .test_bombs import png, text_bomb
from .test_paths import snapshot


def files(root):
    """Every file under ``root`` (folders aside: an upload's empty folder is removed with it)."""
    return {k: v for k, v in snapshot(root).items() if v != "dir"}


@pytest.fixture
def ui(tmp_path):
    service = make_service(tmp_path, styles=paintings(tmp_path / "styles"))
    with serving(service) as url:
        yield service, url


UPLOADS = {
    "100000×100000 photo": ("photos", lambda: png(100_000, 100_000), "too large"),
    "100000×100000 style": ("styles", lambda: png(100_000, 100_000), "too large"),
    "zTXt bomb photo": ("photos", lambda: png(60, 40, text_bomb(64)), "cannot read photo"),
    "truncated PNG": ("photos", lambda: png(60, 40)[:40], "cannot read photo"),
    "text as a style": ("styles", lambda: b"not an image at all", "cannot read style image"),
}


@pytest.mark.parametrize("case", sorted(UPLOADS))
@pytest.mark.parametrize("name", ["x.png", "../../../x.png", "/etc/x.png", "..", "\x00.png"])
def test_a_hostile_upload_is_one_line_and_is_not_kept(ui, tmp_path, case, name):
    _, url = ui
    kind, body, message = UPLOADS[case]
    files_before = files(tmp_path)
    status, answer = call(
        "POST", f"{url}api/{kind}", body(), {"X-Filename": name.replace("\x00", "%00")}
    )
    assert status == 400, answer
    error = answer["error"]
    assert error.startswith("tst: error: ") and "\n" not in error and message in error, error
    assert files(tmp_path) == files_before


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"kind": "run", "targets": ' + b"[" * 50_000,
        b"\xff\xfe",
        b"1e999999",
        b"[" + b"0," * (1 << 20) + b"0]",
    ],
)
def test_a_job_request_that_is_not_json_the_page_sends_is_one_line(ui, body):
    _, url = ui
    status, answer = call("POST", f"{url}api/jobs", body)
    assert status == 400, answer
    assert answer["error"].startswith("tst: error: ") and "\n" not in answer["error"]
