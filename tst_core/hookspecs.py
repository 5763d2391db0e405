"""Hook specifications of the ``tst`` plugin host.

A plugin is a module (or object) found through the ``tst`` entry-point group. It implements one
or more of the hooks below with the :data:`hookimpl` marker; each hook hands it a ``register``
callable that adds plugin objects to a registry::

    from tst_core import hookimpl

    @hookimpl
    def tst_register_compositors(register):
        register("checker", CheckerCompositor, options=CheckerOptions,
                 description="debug: a checkerboard of photo and stylised image")

``register(name, factory, *, options=NoOptions, description)``: ``name`` is what users type
(letters, digits, ``-``, ``_``); ``factory(options, env)`` returns the plugin object; ``options``
is a dataclass whose field defaults are the plugin's defaults (users change them in the config
section ``[<kind>.<name>]`` or with ``--set <kind>.<name>.<field>=value``); ``description`` is
one line for ``tst plugins``. A name registered by two plugins is an error naming both.

Keep registration cheap: import heavy packages (model code, optional backends) inside the
factory, so that ``tst plugins`` works without them and a missing package is reported when the
plugin is used.

A plugin may also add subcommands to the ``tst`` command line (``tst train``, ``tst ui``)
through :func:`tst_register_commands`, as datasette's ``register_commands`` does, add flags
for its own options to ``tst run`` through :func:`tst_register_flags` (tox's
``tox_add_option``), and declare the checkpoints it loads through :func:`tst_register_weights`.

The three kinds of plugin, as the configuration names them, and their hooks:

* ``segmenter`` (``[segmenter.NAME]``, ``--segmenter``): :func:`tst_register_segmenters`
  registers segmenters, objects with ``segment``;
* ``engine`` (``[engine.NAME]``, ``--engine``): :func:`tst_register_engines` registers style
  engines, objects with ``stylize``;
* ``blend`` (``[blend.NAME]``, ``--blend``): :func:`tst_register_compositors` registers
  compositors, objects with ``composite``. The kind says what the user chooses (``[run] blend
  = "mrf"``): how the stylised layers are blended into the photo; the object that does it is a
  *compositor*, the word the hook, the code and the documentation use.
* ``tracker`` (``[tracker.NAME]``, ``tst video --tracker``): :func:`tst_register_trackers`
  registers trackers, objects with ``start`` that follow objects across a clip's frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .registry import Register, RegisterCommand, RegisterFlag, RegisterWeights

PROJECT = "tst"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def tst_register_segmenters(register: Register) -> None:
    """Register segmenters.

    A segmenter's factory returns an object with ``segment(photo) -> Segmentation``, where
    ``photo`` is a float32 ``(3, H, W)`` RGB tensor in [0, 1] and every returned instance has a
    label, a score in [0, 1], a box in photo pixels and a float32 ``(H, W)`` mask in [0, 1].
    It returns *all* instances it finds; the user's selection happens later.

    :param register: ``register(name, factory, *, options, description)``.
    """


@hookspec
def tst_register_engines(register: Register) -> None:
    """Register style engines.

    An engine's factory returns an object with
    ``stylize(photo, targets, progress=None) -> StylizeResult``: ``photo`` is ``(3, H, W)`` in
    [0, 1], ``targets`` holds K masks at ``(H, W)`` with their style images and strengths, and
    the result's ``layers`` is ``(K, 3, H, W)`` in [0, 1]. The engine picks device and dtype
    from ``env.device`` and calls ``progress`` once per iteration.

    An engine that runs trained styles (model files, style names, mixes; see
    :mod:`tst_core.styles`) also has ``resolve_style(parts) -> ModelStyle``
    (:class:`~tst_core.types.StyleResolver`) and says so at registration with
    ``resolves_styles=True`` (so the UI knows without building it; building checks that the
    two agree): the pipeline calls it once per ``--style`` before stylising and hands the
    result on as ``Target.model_style``. Without it the engine gets style images only.

    :param register: ``register(name, factory, *, options, description, resolves_styles)``.
    """


@hookspec
def tst_register_compositors(register: Register) -> None:
    """Register compositors (the ``--blend`` choices).

    A compositor's factory returns an object with
    ``composite(photo, stylized, targets) -> Tensor``: ``photo`` is ``(3, H, W)``,
    ``stylized`` is ``(K, 3, H, W)`` (layer k is used inside target k), the result is
    ``(3, H, W)`` in [0, 1]. Where every mask is zero the result must equal the photo.

    :param register: ``register(name, factory, *, options, description)``.
    """


@hookspec
def tst_register_trackers(register: Register) -> None:
    """Register trackers (the ``tst video --tracker`` choices).

    A tracker's factory returns an object with ``start(size, fps) -> TrackSession``
    (:class:`~tst_core.types.Tracker`): one session per clip, whose
    ``update(frame, segmentation, motion)`` is called once per frame in order with the frame
    ``(3, H, W)`` in [0, 1], the segmenter's instances in it (``None`` on a frame the
    segmenter skipped) and the optical flow from the previous frame (``None`` on the first),
    and returns the visible objects as :class:`~tst_core.clips.tracks.TrackedInstance`: a
    track id that stays the same for the same object, a label, a score, a box and a mask
    ``(H, W)``. A tracker with a model of its own (a video segmenter that propagates masks)
    may ignore the segmentation on frames it can follow by itself.

    :param register: ``register(name, factory, *, options, description)``.
    """


@hookspec
def tst_register_commands(register: RegisterCommand) -> None:
    """Register subcommands of the ``tst`` command line.

    ``register(name, configure, run, *, help)``: ``name`` is what users type after ``tst``;
    ``configure(parser)`` adds the command's arguments to its ``argparse`` parser; ``run(args)``
    does the work with the parsed ``argparse.Namespace`` and returns ``None`` (exit status 0) or
    an exit status. Raise a :class:`~tst_core.errors.TstError` for anything the user can fix: the
    CLI prints it as one line and exits with status 2, as for the built-in commands. A name that
    a built-in command or another plugin already uses is an error naming both.

    Import heavy packages inside ``run``, not at module level: plugin commands are loaded for
    ``tst --help``.

    :param register: ``register(name, configure, run, *, help)``.
    """


@hookspec
def tst_register_weights(register: RegisterWeights) -> None:
    """Register the checkpoints the plugin loads (torchvision's weights-enum pattern).

    ``register(record)`` takes a :class:`~tst_core.records.WeightsRecord` (name, URL, file
    name, SHA-256 or hash prefix, size, licence, architecture). ``tst weights list`` shows it,
    ``tst weights fetch NAME`` fetches it, and the plugin gets its file with
    ``tst_core.hub.resolve(tst_core.records.record(NAME), path=...)``, fetched and checked on
    first use. Called the first time the records are needed, not when plugins load, so it may
    import what the records are read from (:func:`tst_core.records.torchvision_record`). A
    name registered by two plugins is an error naming both.

    :param register: ``register(record)``.
    """


@hookspec
def tst_register_flags(register: RegisterFlag) -> None:
    """Add command-line flags for the plugin's own options to ``tst run`` (and to ``segment``,
    ``compare``, ``batch`` and ``config show``, which take the same configuration).

    ``register(flag, *, kind, name, option, help, metavar=None)``: ``FLAG VALUE`` on the
    command line is ``--set KIND.NAME.OPTION=VALUE``, checked against the options dataclass
    in the same way, and wins over ``--set`` as the built-in flags do; for a ``bool`` option
    the flag takes no value and sets it true. ``kind`` and ``name`` must be a segmenter,
    engine or compositor this plugin registers and ``option`` one of its options' fields;
    ``flag`` is ``--`` and lower-case words joined by ``-``. A flag that a built-in command or
    another plugin already has is an error naming the plugin.

    :param register: ``register(flag, *, kind, name, option, help, metavar)``.
    """
