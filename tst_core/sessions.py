"""The session: a resolved configuration with the host, able to build the chosen plugins.

:func:`session` resolves option defaults < preset/``base`` chain < config file < ``--set`` <
explicit arguments (see :mod:`tst_core.config`); a :class:`Session` builds plugins and says
which files a run reads (for the report's fingerprint and for refusing outputs over inputs).
(The module is ``sessions``: a submodule ``session`` would shadow ``tst_core.session``, the
function.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, load_config
from .plugins import Host, default_host
from .registry import Kind

if TYPE_CHECKING:  # a run's modules (they import torch): ``tst config show`` needs none
    from .files import PhotoLike
    from .outputs import Input
    from .select import StyleRequest
    from .types import Env


@dataclass
class Session:
    """A resolved configuration with the host, able to build the chosen plugins."""

    host: Host
    config: Config

    @property
    def env(self) -> Env:
        from .types import Env

        return Env(self.config.run.device, self.config.run.seed, self.build)

    def build(self, kind: Kind, name: str, *, interactive: bool = False) -> Any:
        """Plugin ``name`` of ``kind`` with its configured options; ``interactive``: to be given
        prompts when called (see :attr:`~tst_core.types.Env.interactive`)."""
        entry = self.host.entry(kind, name)
        env = dataclasses.replace(self.env, interactive=True) if interactive else self.env
        return entry.build(self.config.options_for(self.host, kind, name), env)

    def chosen(self) -> tuple[tuple[Kind, str], ...]:
        """The ``(kind, name)`` of the segmenter, engine and compositor this session uses."""
        run_opts = self.config.run
        return (
            ("segmenter", run_opts.segmenter),
            ("engine", run_opts.engine),
            ("blend", run_opts.blend),
        )

    def inputs(self, photo: PhotoLike, requests: Sequence[StyleRequest]) -> dict[str, Any]:
        """What a run of ``photo`` with ``requests`` reads, with SHA-256 of each (the report's
        ``inputs``; see :mod:`tst_core.fingerprint`)."""
        from .fingerprint import input_record, plugin_files

        options = {f"{k}.{n}": self.config.options_for(self.host, k, n) for k, n in self.chosen()}
        styles = [(r.selector, r.style, r.strength) for r in requests]
        return input_record(photo, styles, plugin_files(options))

    def fingerprint(self, photo: PhotoLike, requests: Sequence[StyleRequest]) -> str:
        """One digest of this configuration and the contents of what the run would read; equal
        to :func:`~tst_core.fingerprint.report_fingerprint` of that run's report."""
        from .fingerprint import fingerprint

        return fingerprint(self.config.to_dict(self.host), self.inputs(photo, requests))

    def input_files(
        self, photo: PhotoLike | None = None, requests: Sequence[StyleRequest] = ()
    ) -> tuple[Input, ...]:
        """Every file and folder a run reads: the config files, the path options of the chosen
        and of every configured plugin (masks, weights), the photo and the style images."""
        from .outputs import Input

        found = [Input(p, "config") for p in self.config.sources]
        chosen = set(self.chosen())
        configured = {(k, n) for k, tables in self.config.plugins.items() for n in tables}
        for kind, name in sorted(chosen | configured):
            if name not in self.host.registry(kind):
                continue
            options = self.config.options_for(self.host, kind, name)
            for f in dataclasses.fields(options):
                for path in _paths(getattr(options, f.name)):
                    found.append(Input(path, f"{kind}.{name}.{f.name}"))
        if isinstance(photo, (str, Path)):
            found.append(Input(Path(photo), "photo"))
        found += [Input(Path(s), "style image") for r in requests for s in r.sources if is_path(s)]
        return tuple(found)


def is_path(value: object) -> bool:
    return isinstance(value, (str, Path))


def _paths(value: object) -> list[Path]:
    """The paths in an option value (a ``Path``, or a list of them)."""
    if isinstance(value, Path):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, Path)]
    return []


def session(
    *,
    host: Host | None = None,
    config: str | Path | Config | None = None,
    sets: Sequence[str] = (),
    segmenter: str | None = None,
    engine: str | None = None,
    blend: str | None = None,
    size: int | None = None,
    style_size: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    output_size: int | None = None,
    jpeg_quality: int | None = None,
    max_memory: str | int | None = None,
    refine: str | None = None,
    segmenter_options: Mapping[str, Any] | None = None,
    engine_options: Mapping[str, Any] | None = None,
    blend_options: Mapping[str, Any] | None = None,
) -> Session:
    """Resolve the configuration: file/preset, then ``sets``, then the explicit arguments.

    :param output_size: long side of the picture written (default: the photo's own size).
    :param jpeg_quality: quality of a JPEG or WebP output (1..100).
    :param max_memory: memory the run may use, ``"4GiB"`` or bytes (default: half the free
        memory).
    :param segmenter_options, engine_options, blend_options: options of the chosen segmenter,
        engine and compositor, ``{"iterations": 50}``, over the configured ones; checked as a
        config file's ``[engine.gatys]`` table is (a notebook need not write ``sets=`` strings).
    """
    host = host or default_host()
    cfg = config if isinstance(config, Config) else load_config(host, config, list(sets))
    cfg = cfg.replace_run(
        segmenter=segmenter,
        engine=engine,
        blend=blend,
        size=size,
        style_size=style_size,
        device=device,
        seed=seed,
        output_size=output_size,
        jpeg_quality=jpeg_quality,
        max_memory=None if max_memory is None else str(max_memory),
        refine=refine,
    )
    host.entry("segmenter", cfg.run.segmenter)
    if cfg.run.refine is not None:
        host.entry("segmenter", cfg.run.refine)
    tables: dict[Kind, Mapping[str, Any] | None] = {
        "segmenter": segmenter_options,
        "engine": engine_options,
        "blend": blend_options,
    }
    for kind, table in tables.items():
        cfg = cfg.with_options(host, kind, getattr(cfg.run, kind), table or {})
    return Session(host, cfg)
