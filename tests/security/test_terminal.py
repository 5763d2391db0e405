"""Low-severity findings of issue 23 (class 9): names from files never reach the terminal raw
(a model's style name with escape sequences is refused; a photo's file name in the batch's
progress lines is escaped), and ``tst ui --host ::1`` answers the browser's own
``Host: [::1]:PORT``."""

from __future__ import annotations

import http.client
import json
import struct

import pytest

from ..batching.conftest import write_photo
from ..ui.helpers import make_service, serving

ESC = "\x1b[2J\x1b[31mred"


def _model_with_style_name(path, name: str) -> None:
    from tst_fast.formats import FORMAT
    from tst_fast.network import TransformNet

    net = TransformNet("johnson-tf", 1)
    header: dict = {}
    blobs, offset = [], 0
    for key, value in net.state_dict().items():
        data = value.numpy().astype("<f4").tobytes()
        end = offset + len(data)
        header[key] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": [offset, end]}
        blobs.append(data)
        offset = end
    header["__metadata__"] = {
        "format": FORMAT,
        "format_version": "1",
        "architecture": "johnson-tf",
        "styles": json.dumps([{"name": name, "image": None, "sha256": None}]),
    }
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


@pytest.mark.parametrize("name", [ESC, "a\nb", "bidi\u202eevil", ""])
def test_a_style_name_with_control_characters_is_refused_not_printed(cli, tmp_path, name):
    path = tmp_path / "m.safetensors"
    _model_with_style_name(path, name)
    code, out, err = cli("model", "show", path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "\x1b" not in out + err and "\u202e" not in out + err


def test_batch_progress_lines_escape_file_names(cli, tmp_path):
    photo = tmp_path / "photos" / f"a{ESC}.png"
    write_photo(photo, 1)
    write_photo(tmp_path / "s.png", 2, (24, 24))
    args = ["batch", tmp_path / "photos", "-o", tmp_path / "out", "--style", tmp_path / "s.png"]
    code, _out, err = cli(
        *args, "--engine", "fake-fill", "--executor", "inline", "--progress", "lines"
    )
    assert code == 0, err
    assert "\x1b" not in err and "\\x1b[2J" in err, err


def test_the_ui_on_ipv6_loopback_answers_its_bracketed_host(tmp_path):
    service = make_service(tmp_path)
    with serving(service, ["127.0.0.1", "::1", "localhost"]) as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        for host, status in [
            (f"[::1]:{port}", 200),
            ("[::1]", 200),
            ("evil.example", 400),
            (f"[::2]:{port}", 400),
            ("[::1", 400),
        ]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.putrequest("GET", "/api/info", skip_host=True)
            conn.putheader("Host", host)
            conn.endheaders()
            assert conn.getresponse().status == status, host
            conn.close()
