"""``tst ui``'s routes read their inputs into typed values first (issue 23 class 6): JSON
bodies that are not objects, coordinates that are NaN, infinite or 400 digits long, picture
names in other scripts' digits, ids of 5000 digits — each is a 4xx with one sentence, never a
500 with a traceback; a Hypothesis fuzz sends any method, path and body to every route. Uploads
have a per-session quota, each session sees only its own uploads, and they are deleted when
the session ends and when the server stops."""

from __future__ import annotations

import json
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ..ui.helpers import call, make_service, paintings, serving

COOKIE = "tst_session"  # tst_ui.app.COOKIE


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-routes")
    service = make_service(tmp, styles=paintings(tmp / "styles"), abandon_after=5.0)
    with serving(service) as url:
        yield service, url, tmp


def png(size=(80, 60), colour=(90, 120, 150)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def as_page(page: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={page}"}


def upload(url: str, page: str = "", data: bytes | None = None) -> tuple[int, dict]:
    headers = {"X-Filename": "p.png", **(as_page(page) if page else {})}
    return call("POST", f"{url}api/photos", png() if data is None else data, headers)


def one_sentence(status: int, body) -> None:
    assert 400 <= status < 500, (status, body)
    if isinstance(body, dict):
        assert "\n" not in body["error"] and "Traceback" not in body["error"], body


@pytest.fixture(scope="module")
def seg(ui):
    _service, url, _ = ui
    status, photo = upload(url)
    assert status == 200, photo
    status, seg = call(
        "POST", f"{url}api/segment", {"photo": photo["id"], "segmenter": "fake-boxes"}
    )
    assert status == 200, seg
    return seg


@pytest.mark.parametrize("body", [[], 5, None, "text", True, [{"photo": "x"}]])
@pytest.mark.parametrize("route", ["api/segment", "api/jobs"])
def test_a_json_body_that_is_not_an_object_is_400(ui, route, body):
    _, url, _ = ui
    status, answer = call(
        "POST", f"{url}{route}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    one_sentence(status, answer)
    assert "JSON object" in answer["error"], answer


@pytest.mark.parametrize(
    "value", ["nan", "NaN", "inf", "-inf", "1e400", "9" * 5000, "", "0x10", "1_0", "١", "1e7"]
)
def test_a_click_coordinate_that_is_not_a_finite_number_is_400(ui, seg, value):
    _, url, _ = ui
    status, answer = call("GET", f"{url}api/segmentations/{seg['id']}/hit?x={quote(value)}&y=3")
    one_sentence(status, answer)


@pytest.mark.parametrize(
    "name", ["٣.png", "².png", "9" * 5000 + ".png", "overlay.png", "0.jpg", "..%2Fx.png", "1.PNG"]
)
def test_a_picture_name_the_page_never_asks_for_is_4xx(ui, seg, name):
    _, url, _ = ui
    status, answer = call("GET", f"{url}api/segmentations/{seg['id']}/{quote(name, safe='%')}")
    one_sentence(status, answer)


IDS = ["9" * 5000, "%00", "٣", "..", "%2e%2e%2fetc"]
ROUTES = [
    "api/engines/{id}",
    "api/photos/{id}/display.jpg",
    "api/styles/{id}/thumb.jpg",
    "api/segmentations/{id}/hit?x=1&y=1",
    "api/segmentations/{id}/0.png",
    "api/jobs/{id}",
    "api/jobs/{id}/preview.jpg",
    "api/jobs/{id}/files/{id}",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("ident", IDS)
def test_odd_ids_in_every_route_are_4xx(ui, route, ident):
    _, url, _ = ui
    status, answer = call("GET", url + route.format(id=quote(ident, safe="%")))
    one_sentence(status, answer)


JOB_FIELDS = {
    "kind": st.sampled_from(["run", "compare", "x", "", None, 5, [], {}]),
    "segmentation": st.one_of(st.none(), st.text(max_size=10), st.integers(), st.just("SEG")),
    "targets": st.one_of(
        st.none(),
        st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "select": st.sampled_from(["id:0", "id:99", "all", "background", "x", 0, None]),
                    "style": st.one_of(st.sampled_from(["s0", "s1", "nope"]), st.integers()),
                    "deg": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3)),
                    "mix": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.floats())),
                },
            ),
            max_size=3,
        ),
        st.text(max_size=5),
    ),
    "engine": st.sampled_from(["fake-fill", "gatys", "nope", "", None, 3]),
    "blend": st.sampled_from(["hard", "feather", "nope", None]),
    "size": st.one_of(st.integers(-10, 10**12), st.floats(), st.booleans(), st.none()),
    "config": st.one_of(st.sampled_from(["", "preview", "nope"]), st.none(), st.integers()),
}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.fixed_dictionaries({}, optional=JOB_FIELDS))
def test_any_job_request_is_answered_without_a_500(ui, seg, body):
    _service, url, _ = ui
    if body.get("segmentation") == "SEG":
        body["segmentation"] = seg["id"]
    body["engine"] = body.get("engine") if body.get("engine") != "gatys" else "fake-fill"
    status, answer = call("POST", f"{url}api/jobs", body)
    if status == 200:
        call("POST", f"{url}api/jobs/{answer['id']}/cancel")
        return
    one_sentence(status, answer)


PATH_TEXT = st.text(alphabet=string.printable + "٣²é\u202e", max_size=30)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(["GET", "POST"]),
    st.sampled_from([r.split("{id}")[0] for r in ROUTES] + ["api/", "static/", "api/segment"]),
    PATH_TEXT,
    st.one_of(st.none(), st.binary(max_size=64), st.text(max_size=64).map(str.encode)),
)
def test_any_request_to_any_route_is_never_a_500(ui, method, route, tail, body):
    _, url, _ = ui
    status, answer = call(
        method, url + route + quote(tail, safe="/?=&"), body if method == "POST" else None
    )
    assert status < 500, (status, answer)


def test_uploads_have_a_per_session_quota_and_sessions_see_only_their_own(ui):
    service, url, _ = ui
    quota, limit = service.sessions.quota, service.max_upload
    big = png((300, 300), (10, 20, 30))
    assert len(big) < limit
    a, b = "pageAAAAAA", "pageBBBBBB"
    kept = 0
    while kept + len(big) <= quota:
        status, photo = upload(url, a, big)
        assert status == 200, photo
        kept += len(big)
    status, answer = upload(url, a, big)
    assert status == 413 and "this page's uploads would exceed" in answer["error"], answer
    status, other = upload(url, b, big)  # another page still may
    assert status == 200, other
    status, answer = call(
        "POST", f"{url}api/segment", {"photo": other["id"], "segmenter": "fake-boxes"}, as_page(a)
    )
    assert status == 400 and "unknown photo" in answer["error"], answer
    status, answer = call("GET", f"{url}api/photos/{other['id']}/display.jpg", headers=as_page(a))
    assert status == 400, answer


def test_a_session_s_uploads_are_deleted_when_it_ends_and_when_the_server_stops(tmp_path):
    service = make_service(tmp_path, styles=paintings(tmp_path / "styles"))
    with serving(service) as url:
        status, photo = upload(url, "pageCCCCCC")
        assert status == 200, photo
        status, style = call(
            "POST", f"{url}api/styles", png(), {"X-Filename": "s.png", **as_page("pageCCCCCC")}
        )
        assert status == 200, style
        files = [p for p in service.uploads.rglob("*") if p.is_file()]
        assert len(files) == 2
        service.sessions.idle = 0.0
        call("GET", f"{url}api/info", headers=as_page("pageDDDDDD"))  # any request sweeps
        assert [p for p in service.uploads.rglob("*") if p.is_file()] == []
        status, _ = call(
            "GET", f"{url}api/photos/{photo['id']}/display.jpg", headers=as_page("pageCCCCCC")
        )
        assert status == 400
        service.sessions.idle = 3600.0
        assert upload(url, "pageEEEEEE")[0] == 200
    assert [p for p in service.uploads.rglob("*") if p.is_file()] == []


def test_the_page_gets_a_session_cookie(ui):
    import urllib.request

    _, url, _ = ui
    with urllib.request.urlopen(url, timeout=30) as r:
        cookie = r.headers.get("Set-Cookie", "")
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
