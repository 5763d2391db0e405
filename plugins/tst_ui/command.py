"""``tst ui``: its arguments, the checks before anything listens, and the server's life.

Only the standard library and the command line's own helpers are imported here (``tst --help``
loads this module); the web packages and torch load in :func:`run`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from tst_core.cli.args import add_config_args, segmenter_options
from tst_core.cli.signals import Terminated, sigterm_raises
from tst_core.errors import InputError, missing_dependency

EXAMPLES = """examples:
  tst ui --styles ../shared/images/style
  tst ui --styles paintings/ --segmenter yolo --weights yolov8n-seg_int8.tflite --config preview
  tst ui --segmenter maskfile --masks masks/ --port 0          # any free port; the URL is printed

It listens on 127.0.0.1 only. To let other machines in, pass --host 0.0.0.0 --allow-remote:
anyone who reaches the port can then run jobs and read what the server shows.
"""

#: the segmenter flags the page passes to its default segmenter (prompts are clicked instead)
UI_SEGMENTER_FLAGS = ("masks", "weights")


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EXAMPLES
    p.add_argument("--styles", metavar="DIR", help="folder of paintings shown as the gallery")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0: any free one)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (anyone who reaches it can run jobs)",
    )
    add_config_args(
        p,
        title="configuration (as for tst run; the page's defaults)",
        segmenter_flags=UI_SEGMENTER_FLAGS,
        offline=False,
    )
    s = p.add_argument_group("server")
    s.add_argument(
        "--max-upload-mb",
        type=float,
        default=200.0,
        metavar="MB",
        help="largest photo or style upload (default 200: a 24-megapixel 16-bit PNG)",
    )
    s.add_argument(
        "--abandon-after",
        type=float,
        default=30.0,
        metavar="S",
        help="cancel a job that no open page has watched for S seconds (default 30)",
    )
    s.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep uploads and results here (default: a temporary folder removed on exit; "
        "a copy of each upload a job used stays in $XDG_CACHE_HOME/tst/ui-uploads for the "
        "page's command lines)",
    )


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_args(args: argparse.Namespace) -> None:
    """Refuse what would be wrong before anything loads or listens."""
    if not is_loopback(args.host) and not args.allow_remote:
        raise InputError(
            f"--host {args.host} is not a loopback address: anyone who reaches it could run jobs "
            "and read the files tst ui serves; add --allow-remote if that is what you want"
        )
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be from 0 to 65535, got {args.port}")
    if args.styles is not None and not Path(args.styles).is_dir():
        raise InputError(f"--styles '{args.styles}' is not a folder")
    if args.max_upload_mb <= 0 or args.abandon_after <= 0:
        raise InputError("--max-upload-mb and --abandon-after must be positive")


def listen(host: str, port: int) -> socket.socket:
    """A bound socket (so a port in use is one error line, and port 0 picks a free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # connections wait in the backlog until uvicorn takes over
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    check_args(args)
    try:
        import uvicorn

        from .app import create_app
    except ModuleNotFoundError as exc:
        raise missing_dependency("ui", exc.name or "starlette", "ui") from None
    from tst_core.plugins import default_host

    from .service import UiService
    from .spec import Settings

    flags = {k: _absolute(v) for k, v in segmenter_options(args).items() if v}
    settings = Settings(args.config, tuple(args.sets), args.segmenter, flags, args.device)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tst-ui-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        service = UiService(
            default_host(),
            settings,
            styles=Path(args.styles).resolve() if args.styles else None,
            workdir=workdir.resolve(),
            max_upload=int(args.max_upload_mb * 1e6),
            abandon_after=args.abandon_after,
            kept=None if args.workdir else kept_uploads(),
        )
        sock = listen(args.host, args.port)
        remote = not is_loopback(args.host)
        app = create_app(service, ["*"] if remote else _loopback_names(args.host))
        port = sock.getsockname()[1]
        if remote:
            print(
                f"tst ui: warning: listening on {args.host}, not only on this machine: anyone "
                "who reaches this port can run jobs and download what it shows",
                file=sys.stderr,
            )
        print(f"tst ui: http://{_url_host(args.host)}:{port}/ (Ctrl-C stops it)", flush=True)
        config: Any = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        service.stopping = lambda: bool(server.should_exit)
        with sock:
            serve(server, sock)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def serve(server: Any, sock: socket.socket) -> None:
    """Run the uvicorn ``server`` until Ctrl-C or SIGTERM: for a server either is its normal
    stop, so both end it cleanly (exit 0) where other commands exit 130 or 143 (see
    :mod:`tst_core.cli.signals`); uvicorn shuts down gracefully, then hands the signal back."""
    try:
        with sigterm_raises():
            server.run(sockets=[sock])
    except (KeyboardInterrupt, Terminated):
        pass
    print("tst ui: stopped", file=sys.stderr)


def kept_uploads() -> Path:
    """Where the uploads a job used are kept when the work folder is temporary, so the page's
    command lines still work after the server stops: ``$XDG_CACHE_HOME/tst/ui-uploads``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "tst" / "ui-uploads"


def _absolute(path: str) -> str:
    """An existing file as an absolute path, so the page's command lines work from anywhere."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def _loopback_names(host: str) -> list[str]:
    return sorted({"127.0.0.1", "localhost", host})


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
