"""``tst ui`` over HTTP (uvicorn on a thread, urllib as the client): it serves only its page,
its pictures and its jobs' files; changes need the page's header and a Host it answers to;
uploads are size-limited and checked; a job whose page went away is cancelled."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from urllib.parse import urlparse

import pytest

from .helpers import call, make_service, paintings, serving, wait_for

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd"
    b"\xd4\x9as\x00\x00\x00\x16IDATx\x9cc\xf8\xcf\xc0\xc0\xf0\x9f\x81\x81\xe1?\x03\x03\x03\x00"
    b"\x1d\xf4\x03\xfd\xcf\xa4\x9e\xda\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def ui(tmp_path):
    service = make_service(tmp_path, styles=paintings(tmp_path / "styles"), abandon_after=0.5)
    with serving(service) as url:
        yield service, url


def upload_photo(url: str, tmp_path, size=(80, 60)) -> dict:
    from PIL import Image

    path = tmp_path / "up.png"
    Image.new("RGB", size, (90, 120, 150)).save(path)
    status, photo = call(
        "POST", f"{url}api/photos", path.read_bytes(), {"X-Filename": "my%20photo.png"}
    )
    assert status == 200, photo
    return photo


def slow_job(service, url: str, tmp_path) -> dict:
    photo = upload_photo(url, tmp_path)
    _, seg = call("POST", f"{url}api/segment", {"photo": photo["id"], "segmenter": "fake-boxes"})
    style = next(iter(service.gallery.styles))
    body = {
        "kind": "run",
        "segmentation": seg["id"],
        "targets": [{"select": "id:0", "style": style}],
        "engine": "slow",
        "blend": "hard",
        "size": 32,
        "config": "",
    }
    status, job = call("POST", f"{url}api/jobs", body)
    assert status == 200, job
    return job


def test_the_page_loads_nothing_from_elsewhere_and_says_so(ui):
    _, url = ui
    with urllib.request.urlopen(url) as r:
        csp = r.headers["Content-Security-Policy"]
        html = r.read().decode()
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "http" not in html.replace('name="viewport"', "")  # no absolute URL anywhere
    for asset in ("ui.js", "ui.css"):
        with urllib.request.urlopen(f"{url}static/{asset}") as r:
            assert "//" not in r.read().decode().replace("// ", "").replace("://", "")


def test_it_serves_nothing_it_was_not_given(ui, tmp_path):
    _, url = ui
    for path in [
        "static/..%2f..%2fpyproject.toml",
        "static/app.py",
        "api/styles/..%2f..%2fetc%2fpasswd/thumb.jpg",
        "api/jobs/nope/files/passwd",
        "api/segmentations/nope/overlay.jpg",
    ]:
        status, body = call("GET", url + path)
        assert status in (400, 404), path
        if status == 400:
            assert body["error"].startswith("tst: error: "), body
    status, body = call("GET", f"{url}api/info")
    assert status == 200 and "/" not in "".join(s["id"] for s in body["styles"])


def test_changes_need_the_page_s_header_and_a_host_name_it_answers_to(ui, tmp_path):
    _, url = ui
    request = urllib.request.Request(f"{url}api/photos", data=PNG, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"] == (
        "tst: error: requests that change something must come from the tst ui page"
    )
    host = urlparse(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", "/api/info", headers={"Host": "attacker.example"})  # DNS rebinding
    assert conn.getresponse().status == 400


def test_uploads_are_size_limited_checked_and_refused_files_are_not_kept(ui, tmp_path):
    service, url = ui
    photo = upload_photo(url, tmp_path)
    assert photo["size"] == [60, 80] and photo["name"] == "my_photo.png"
    status, body = call("POST", f"{url}api/photos", b"x" * 300_000, {"X-Filename": "big.jpg"})
    assert status == 413
    assert (
        body["error"]
        == "tst: error: upload 'big.jpg' is larger than the 0.2 MB limit (tst ui --max-upload-mb)"
    )
    status, body = call(
        "POST", f"{url}api/styles", b"GIF89a nonsense", {"X-Filename": "../../x.gif"}
    )
    assert status == 400
    assert (
        body["error"].startswith("tst: error: cannot read style image 'x.gif'")
        and str(service.uploads) not in body["error"]  # the page's name, not the server's path
    )
    kept = [p for p in service.uploads.rglob("*") if p.is_file()]
    assert [p.name for p in kept] == ["my_photo.png"]
    assert all(service.uploads in p.parents for p in kept)


def test_a_second_job_waits_with_its_position_and_runs_after_the_first(ui, tmp_path):
    service, url = ui
    service.jobs.abandon_after = 60  # these two are followed by status requests, not streams
    first = slow_job(service, url, tmp_path)
    second = slow_job(service, url, tmp_path)
    assert second["state"] == "queued" and second["position"] == 1
    _, now = call("GET", f"{url}api/jobs/{first['id']}")
    assert now["state"] == "running" and now["position"] == 0
    call("POST", f"{url}api/jobs/{first['id']}/cancel")
    wait_for(lambda: call("GET", f"{url}api/jobs/{second['id']}")[1]["state"] == "running")
    call("POST", f"{url}api/jobs/{second['id']}/cancel")
    wait_for(lambda: service.jobs.get(second["id"]).finished)


def test_a_job_whose_page_closed_its_event_stream_is_cancelled(ui, tmp_path):
    service, url = ui  # abandon_after 0.5 s
    job = slow_job(service, url, tmp_path)
    host = urlparse(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", f"/api/jobs/{job['id']}/events")
    stream = conn.getresponse()
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    first = json.loads(stream.readline().decode().removeprefix("data: "))
    assert first["id"] == job["id"]
    time.sleep(1.5)  # watched all along: it keeps running
    assert service.jobs.get(job["id"]).state == "running"
    conn.close()  # the tab closed
    wait_for(lambda: service.jobs.get(job["id"]).finished, timeout=10, what="the abandoned job")
    done = service.jobs.get(job["id"])
    assert done.state == "cancelled" and "no page watched it" in done.note
    assert 0 < done.step < done.total


def test_ctrl_c_closes_event_streams_and_waits_for_a_stuck_job_only_briefly(tmp_path, monkeypatch):
    """A page watching a job that is in a stage without iterations (so it cannot see its
    cancellation): the server closes the page's stream and waits STOP_WAIT for the job, then
    stops (it waited 30 s, after a traceback about the stream)."""
    from tst_ui import app as app_module
    from tst_ui.jobs import Job

    monkeypatch.setattr(app_module, "STOP_WAIT", 0.5)
    service = make_service(tmp_path, abandon_after=30.0)
    release = threading.Event()
    with serving(service) as url:
        job = service.jobs.submit(Job("run", lambda job: release.wait(60) and {}))
        wait_for(lambda: job.state == "running", what="the job to start")
        stream = urllib.request.urlopen(f"{url}api/jobs/{job.id}/events", timeout=30)
        assert stream.readline().startswith(b"data: ")
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 5.0
    assert stream.read() is not None  # the server closed it
    release.set()
