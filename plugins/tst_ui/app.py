"""The HTTP side of ``tst ui``: a Starlette app over :class:`~tst_ui.service.UiService`.

It serves the page and its two assets from this package, pictures it drew, the gallery's
thumbnails and the files its jobs wrote, each looked up by id and name, never by a path the
request gives. Every error is the CLI's one line as ``{"error": ...}``. Requests that change
something need the ``X-Tst-Ui`` header, which another web site cannot send without the
browser asking this server first (it never agrees), and the Host header must be one this server
answers to, against DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tst_core.errors import InputError, TstError

from . import render
from .jobs import Job, error_line
from .service import UiService
from .workspace import UploadTooLarge, receive, too_large

#: the page's own files: name -> media type
ASSETS = {"ui.js": "text/javascript", "ui.css": "text/css"}
#: the page may load nothing from anywhere else
CSP = (
    "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: the largest JSON request body read
MAX_JSON = 1 << 20
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: seconds between two status messages of a job's event stream, and between keep-alives
TICK, PING = 0.25, 10.0

Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """Turn errors into ``{"error": one line}``: 400 (413 for a large upload), 500 unexpected."""

    async def wrapped(request: Request) -> Response:
        try:
            if request.method == "POST" and request.headers.get("x-tst-ui") != "1":
                raise InputError("requests that change something must come from the tst ui page")
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
        await run_in_threadpool(service.jobs.stop)

    async def page(request: Request) -> Response:
        html = _asset("index.html")
        return Response(
            html, media_type="text/html", headers={"Content-Security-Policy": CSP, **HEADERS}
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            raise InputError(f"no page asset '{name}'")
        data = _asset(name)
        return Response(data, media_type=ASSETS[name], headers=HEADERS)

    async def info(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.info))

    async def engine(request: Request) -> Response:
        return JSONResponse(
            await run_in_threadpool(service.engine_info, request.path_params["name"])
        )

    async def upload_photo(request: Request) -> Response:
        path = await _receive(request, service)
        return JSONResponse(await run_in_threadpool(service.open_upload, path))

    async def photo_display(request: Request) -> Response:
        photo = service.photos.get(request.path_params["pid"], "photo")
        data = await run_in_threadpool(render.encode, photo.display, "JPEG")
        return Response(data, media_type="image/jpeg", headers=HEADERS)

    async def upload_style(request: Request) -> Response:
        path = await _receive(request, service)
        style = await run_in_threadpool(service.gallery.add, path)
        return JSONResponse(service.style_info(style.id))

    async def style_thumb(request: Request) -> Response:
        data = await run_in_threadpool(service.gallery.thumb, request.path_params["sid"])
        return Response(data, media_type="image/jpeg", headers=HEADERS)

    async def segment(request: Request) -> Response:
        body = await _json(request)
        done = await run_in_threadpool(
            service.segment, str(body.get("photo")), str(body.get("segmenter"))
        )
        return JSONResponse(service.segment_info(done))

    async def seg_picture(request: Request) -> Response:
        seg = service.segmented.get(request.path_params["sid"], "segmentation")
        name, ext = request.path_params["name"], request.path_params["ext"]
        if (ext == "jpg") != (name == "overlay") or ext not in ("jpg", "png"):
            raise InputError(f"no picture '{name}.{ext}'")
        data = await run_in_threadpool(seg.picture, name)
        return Response(data, media_type=f"image/{'jpeg' if ext == 'jpg' else 'png'}")

    async def hit(request: Request) -> Response:
        try:
            x, y = float(request.query_params["x"]), float(request.query_params["y"])
        except (KeyError, ValueError):
            raise InputError("a click needs x and y in photo pixels") from None
        return JSONResponse({"id": service.hit(request.path_params["sid"], x, y)})

    async def region(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(
            await run_in_threadpool(service.region, request.path_params["sid"], body)
        )

    async def text_regions(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(
            await run_in_threadpool(service.text_regions, request.path_params["sid"], body)
        )

    async def paint(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(
            await run_in_threadpool(service.paint, request.path_params["sid"], body)
        )

    async def undo(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.step, request.path_params["sid"], True))

    async def redo(request: Request) -> Response:
        return JSONResponse(
            await run_in_threadpool(service.step, request.path_params["sid"], False)
        )

    async def mask_png(request: Request) -> Response:
        sid, index = request.path_params["sid"], request.path_params["index"]
        data = await run_in_threadpool(service.mask_png, sid, index)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def submit(request: Request) -> Response:
        job = await run_in_threadpool(service.submit, await _json(request))
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
        Route("/api/segmentations/{sid}/{name}.{ext}", api(seg_picture)),
        Route("/api/jobs", api(submit), methods=["POST"]),
        Route("/api/jobs/{jid}", api(status)),
        Route("/api/jobs/{jid}/events", api(events)),
        Route("/api/jobs/{jid}/cancel", api(cancel), methods=["POST"]),
        Route("/api/jobs/{jid}/preview.jpg", api(preview)),
        Route("/api/jobs/{jid}/files/{name}", api(job_file)),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _asset(name: str) -> bytes:
    return (resources.files("tst_ui") / "static" / name).read_bytes()


async def _receive(request: Request, service: UiService) -> Path:
    """The request body as a new upload file (``X-Filename`` names it)."""
    name = unquote(request.headers.get("x-filename", "upload"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > service.max_upload:
        raise too_large(name, service.max_upload)
    return await receive(request.stream(), service.uploads, name, service.max_upload)


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
            if job.finished:
                return
            await asyncio.sleep(TICK)
    finally:
        service.jobs.unwatch(job)
