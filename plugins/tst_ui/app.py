"""The HTTP side of ``tst ui``: a Starlette app over :class:`~tst_ui.service.UiService`.

It serves the page and its two assets from this package, pictures it drew, the gallery's
thumbnails and the files its jobs wrote, each looked up by id and name, never by a path the
request gives. Every error is the CLI's one line as ``{"error": ...}``. Requests that change
something need the ``X-Tst-Ui`` header, which another web site cannot send without the
browser asking this server first (it never agrees), and the Host header must be one this server
answers to, against DNS rebinding.

Every route reads its inputs into typed values before it acts (:func:`_json_object`,
:func:`_coordinate`, :data:`PICTURE`): a body that is not a JSON object, a coordinate that is
not a finite number, a picture name that is not one of the few the page asks for is a 4xx with
one sentence, never a 500. The page's session is the ``tst_session`` cookie the page gets with
its HTML (see :mod:`.workspace`); uploads count against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tst_core.errors import InputError, TstError

from . import render
from .jobs import Job, error_line
from .service import UiService
from .workspace import SESSION_ID, UploadTooLarge, new_id, receive, too_large

#: the page's own files: name -> media type
ASSETS = {"ui.js": "text/javascript", "ui.css": "text/css"}
#: the page may load nothing from anywhere else
CSP = (
    "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: the largest JSON request body read
MAX_JSON = 1 << 20
#: seconds a stopping server waits for the running job to stop (Ctrl-C must not hang)
STOP_WAIT = 5.0
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: seconds between two status messages of a job's event stream, and between keep-alives
TICK, PING = 0.25, 10.0
#: the session cookie
COOKIE = "tst_session"
#: the pictures of a segmentation the page asks for: ``overlay.jpg``, a layer ``N.png``,
#: ``background.png``, ``all.png``
PICTURE = re.compile(r"^(overlay\.jpg|(?:[0-9]{1,6}|background|all)\.png)$")
#: a number as the page writes one (ASCII digits, a point, an exponent)
NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$")
#: the largest photo coordinate accepted (no photo tst reads is larger)
MAX_COORDINATE = 1e6

Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """Turn errors into ``{"error": one line}``: 400 (413 for a large upload), 500 unexpected."""

    async def wrapped(request: Request) -> Response:
        try:
            if request.method == "POST" and request.headers.get("x-tst-ui") != "1":
                raise InputError("requests that change something must come from the tst ui page")
            service = request.app.state.service
            await run_in_threadpool(service.sweep)
            return await handler(request)
        except TstError as exc:
            status = 413 if isinstance(exc, UploadTooLarge) else 400
            return JSONResponse({"error": error_line(exc)}, status, HEADERS)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return JSONResponse({"error": error_line(exc)}, 500, HEADERS)

    return wrapped


def create_app(service: UiService, allowed_hosts: list[str]) -> Starlette:
    """The app; ``allowed_hosts`` are the Host names it answers (``["*"]``: any)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.jobs.start()
        yield
        await run_in_threadpool(service.jobs.stop, STOP_WAIT)
        await run_in_threadpool(service.close)

    async def page(request: Request) -> Response:
        html = _asset("index.html")
        response = Response(
            html, media_type="text/html", headers={"Content-Security-Policy": CSP, **HEADERS}
        )
        if not SESSION_ID.match(request.cookies.get(COOKIE, "")):
            response.set_cookie(COOKIE, new_id(), httponly=True, samesite="strict", path="/")
        return response

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            raise InputError(f"no page asset '{name}'")
        data = _asset(name)
        return Response(data, media_type=ASSETS[name], headers=HEADERS)

    async def info(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.info, _page(request)))

    async def engine(request: Request) -> Response:
        return JSONResponse(
            await run_in_threadpool(service.engine_info, request.path_params["name"])
        )

    async def upload_photo(request: Request) -> Response:
        path = await _receive(request, service)
        info = await run_in_threadpool(service.uploaded, _page(request), path, service.open_upload)
        return JSONResponse(info)

    async def photo_display(request: Request) -> Response:
        photo = service.photo(request.path_params["pid"], _page(request))
        data = await run_in_threadpool(render.encode, photo.display, "JPEG")
        return Response(data, media_type="image/jpeg", headers=HEADERS)

    async def upload_style(request: Request) -> Response:
        path = await _receive(request, service)
        page = _page(request)
        style = await run_in_threadpool(service.uploaded, page, path, service.gallery.add)
        return JSONResponse(service.style_info(style.id))

    async def style_thumb(request: Request) -> Response:
        sid, page = request.path_params["sid"], _page(request)
        data = await run_in_threadpool(service.gallery.thumb, sid, page)
        return Response(data, media_type="image/jpeg", headers=HEADERS)

    async def segment(request: Request) -> Response:
        body = await _json_object(request)
        photo, segmenter = body.get("photo"), body.get("segmenter")
        if not isinstance(photo, str) or not isinstance(segmenter, str) or not segmenter:
            raise InputError('a segmentation request names a "photo" id and a "segmenter"')
        done = await run_in_threadpool(service.segment, photo, segmenter, _page(request))
        return JSONResponse(service.segment_info(done))

    async def seg_picture(request: Request) -> Response:
        seg = service.segmentation(request.path_params["sid"], _page(request))
        match = PICTURE.match(request.path_params["picture"])
        if match is None:
            raise InputError("no such picture of this photo")
        name, ext = match[1].rsplit(".", 1)
        data = await run_in_threadpool(seg.picture, name)
        return Response(data, media_type=f"image/{'jpeg' if ext == 'jpg' else 'png'}")

    async def hit(request: Request) -> Response:
        x, y = (_coordinate(request.query_params.get(k), k) for k in ("x", "y"))
        return JSONResponse({"id": service.hit(request.path_params["sid"], x, y, _page(request))})

    async def region(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(
            await run_in_threadpool(
                service.region, request.path_params["sid"], body, _page(request)
            )
        )

    async def text_regions(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(
            await run_in_threadpool(
                service.text_regions, request.path_params["sid"], body, _page(request)
            )
        )

    async def paint(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(
            await run_in_threadpool(service.paint, request.path_params["sid"], body, _page(request))
        )

    async def undo(request: Request) -> Response:
        return JSONResponse(
            await run_in_threadpool(service.step, request.path_params["sid"], True, _page(request))
        )

    async def redo(request: Request) -> Response:
        return JSONResponse(
            await run_in_threadpool(service.step, request.path_params["sid"], False, _page(request))
        )

    async def mask_png(request: Request) -> Response:
        sid, index = request.path_params["sid"], request.path_params["index"]
        data = await run_in_threadpool(service.mask_png, sid, index, _page(request))
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def submit(request: Request) -> Response:
        body = await _json_object(request)
        job = await run_in_threadpool(service.submit, body, _page(request))
        return JSONResponse(service.status(job))

    async def status(request: Request) -> Response:
        return JSONResponse(service.status(_job(service, request)))

    async def cancel(request: Request) -> Response:
        job = _job(service, request)
        service.jobs.cancel(job)
        return JSONResponse(service.status(job))

    async def events(request: Request) -> Response:
        job = _job(service, request)
        return StreamingResponse(
            _events(service, job),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", **HEADERS},
        )

    async def preview(request: Request) -> Response:
        job = _job(service, request)
        if job.preview is None:
            raise InputError("no preview yet")
        data = await run_in_threadpool(render.encode, job.preview, "JPEG")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def job_file(request: Request) -> Response:
        job = _job(service, request)
        path = job.outputs.get(request.path_params["name"])
        if path is None:
            raise InputError("this job wrote no such file")
        return FileResponse(path, headers=HEADERS)

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/static/{name}", api(asset)),
        Route("/api/info", api(info)),
        Route("/api/engines/{name}", api(engine)),
        Route("/api/photos", api(upload_photo), methods=["POST"]),
        Route("/api/photos/{pid}/display.jpg", api(photo_display)),
        Route("/api/styles", api(upload_style), methods=["POST"]),
        Route("/api/styles/{sid}/thumb.jpg", api(style_thumb)),
        Route("/api/segment", api(segment), methods=["POST"]),
        Route("/api/segmentations/{sid}/hit", api(hit)),
        Route("/api/segmentations/{sid}/regions", api(region), methods=["POST"]),
        Route("/api/segmentations/{sid}/paint", api(paint), methods=["POST"]),
        Route("/api/segmentations/{sid}/text", api(text_regions), methods=["POST"]),
        Route("/api/segmentations/{sid}/undo", api(undo), methods=["POST"]),
        Route("/api/segmentations/{sid}/redo", api(redo), methods=["POST"]),
        Route("/api/segmentations/{sid}/masks/{index}.png", api(mask_png)),
        Route("/api/segmentations/{sid}/{picture}", api(seg_picture)),
        Route("/api/jobs", api(submit), methods=["POST"]),
        Route("/api/jobs/{jid}", api(status)),
        Route("/api/jobs/{jid}/events", api(events)),
        Route("/api/jobs/{jid}/cancel", api(cancel), methods=["POST"]),
        Route("/api/jobs/{jid}/preview.jpg", api(preview)),
        Route("/api/jobs/{jid}/files/{name}", api(job_file)),
    ]
    middleware = [Middleware(HostCheck, allowed_hosts=allowed_hosts)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.service = service
    return app


class HostCheck:
    """Answer only requests whose Host header names this server (against DNS rebinding).

    Starlette's ``TrustedHostMiddleware`` cuts the header at its first ``:``, so the
    ``Host: [::1]:7860`` that a browser sends to ``tst ui --host ::1`` never matched; here an
    IPv6 literal is read inside its brackets.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.any = "*" in allowed_hosts
        self.allowed = {h.strip("[]").lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.any:
            name = host_name(Headers(scope=scope).get("host", ""))
            if name not in self.allowed:
                await PlainTextResponse("Invalid host header", status_code=400)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port: ``[::1]:7860`` → ``::1``,
    ``localhost:7860`` → ``localhost`` (lower case)."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else ""
    return header.split(":", 1)[0]


def _page(request: Request) -> str:
    """The page's session id (the cookie), or ``""``: the session of requests without one."""
    value = request.cookies.get(COOKIE, "")
    return value if SESSION_ID.match(value) else ""


def _coordinate(text: str | None, name: str) -> float:
    """A click's ``x`` or ``y`` in photo pixels: a finite number, at most :data:`MAX_COORDINATE`
    in size (NaN, infinities, ``1e400`` and 5000-digit numbers are refused)."""
    try:
        if text is None or len(text) > 32 or not NUMBER.match(text):
            raise ValueError  # float() would take '1_0', '١' (an Arabic-Indic 1) and 'nan'
        value = float(text)
    except ValueError:
        raise InputError("a click needs x and y in photo pixels") from None
    if not math.isfinite(value) or abs(value) > MAX_COORDINATE:
        raise InputError(f"a click's {name} must be a finite number of photo pixels")
    return value


def _asset(name: str) -> bytes:
    return (resources.files("tst_ui") / "static" / name).read_bytes()


async def _receive(request: Request, service: UiService) -> Path:
    """The request body as a new upload file (``X-Filename`` names it), within the upload
    limit and what the page's session may still keep."""
    name = unquote(request.headers.get("x-filename", "upload")[:1024])
    page = _page(request)
    room = service.upload_room(page)

    def over() -> UploadTooLarge:
        if room < service.max_upload:
            return UploadTooLarge(
                f"this page's uploads would exceed its {service.sessions.quota / 1e6:g} MB "
                "(10 uploads of --max-upload-mb); they are deleted when the page has been "
                "closed for a while"
            )
        return too_large(name, service.max_upload)

    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and len(declared) < 20 and int(declared) > room:
        raise over()
    return await receive(request.stream(), service.uploads, name, max(room, 0), over)


async def _json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (see :func:`_json`)."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    return body


async def _json(request: Request) -> Any:
    """The request body as JSON: at most :data:`MAX_JSON` bytes (a job request is a few kB),
    nested no deeper than the reader's recursion limit."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON:
            raise InputError(f"the request body is larger than {MAX_JSON >> 20} MiB")
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise InputError("the request body is not JSON") from None


def _job(service: UiService, request: Request) -> Job:
    job = service.jobs.get(request.path_params["jid"])
    if job is None:
        raise InputError("unknown job (the server restarted or forgot it)")
    return job


async def _events(service: UiService, job: Job) -> AsyncIterator[str]:
    """Server-sent events: the job's status whenever it changes, until it finishes.

    The job counts as watched while this stream is open; closing the tab closes it.
    """
    service.jobs.watch(job)
    try:
        last, pinged = "", time.monotonic()
        while True:
            text = json.dumps(service.status(job))
            if text != last:
                yield f"data: {text}\n\n"
                last, pinged = text, time.monotonic()
            elif time.monotonic() - pinged > PING:
                yield ": ping\n\n"
                pinged = time.monotonic()
            if job.finished or service.stopping():  # Ctrl-C: let the server close this stream
                return
            await asyncio.sleep(TICK)
    finally:
        service.jobs.unwatch(job)
