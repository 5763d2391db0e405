"""``tst ui``: a local web page over the same API as ``tst run`` and ``tst compare``.

Open a photo, click the instances to stylise, give each a painting, run, compare, download.
The page is hand-written (``static/``) and served by a small Starlette app (``app.py``); every
job goes through :class:`tst_core.api.Pipeline` or :func:`tst_core.compare.compare`, one at a
time (``jobs.py``). Registering the command imports nothing heavy: the web packages (the
``[ui]`` extra) and torch load when ``tst ui`` runs.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import RegisterCommand


@hookimpl
def tst_register_commands(register: RegisterCommand) -> None:
    from .command import configure, run

    register(
        "ui",
        configure,
        run,
        help="a local web page: click instances, choose styles, run, compare and download",
    )
