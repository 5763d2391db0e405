"""Writing outputs all or none, never over an input (tst_core.outputs)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from tst_core import files, outputs
from tst_core.errors import InputError
from tst_core.outputs import Input, Output, check_outputs, write_outputs


def png(t=None):
    return files.image_writer(torch.rand(3, 4, 4) if t is None else t, "PNG")


def text(value):
    return files.text_writer(value)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- what was in test_io ---------------------------------------------------------------------


def test_write_roundtrip_and_no_leftovers(tmp_path):
    t = torch.rand(3, 9, 11)
    files.write_image(tmp_path / "out.png", t)
    back = files.read_image(tmp_path / "out.png")
    assert torch.allclose(back, t, atol=0.5 / 255 + 1e-6)
    assert names(tmp_path) == ["out.png"]


def test_outputs_get_the_usual_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        files.write_image(tmp_path / "out.png", torch.rand(3, 4, 4))
    finally:
        os.umask(old)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o644


def test_failed_multi_write_leaves_nothing(tmp_path):
    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("encoder bug")

    with pytest.raises(RuntimeError):
        write_outputs({tmp_path / "a.png": png(), tmp_path / "a.json": boom})
    assert names(tmp_path) == []


def test_existing_output_is_only_replaced_on_success(tmp_path):
    (tmp_path / "a.json").write_text("old")

    def boom(tmp):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        write_outputs({tmp_path / "a.json": boom})
    assert (tmp_path / "a.json").read_text() == "old"
    assert names(tmp_path) == ["a.json"]


def test_outputs_never_overwrite_inputs(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    with pytest.raises(InputError, match="refusing to overwrite the input file"):
        check_outputs([tmp_path / "." / "photo.png"], [photo])
    with pytest.raises(InputError, match="does not exist"):
        check_outputs([tmp_path / "nope" / "o.png"], [photo])


# --- inputs: through .., symbolic links and folders -----------------------------------------


@pytest.fixture
def tree(tmp_path):
    """photo.png, masks/person.png, a link to the masks folder and a link to the photo."""
    (tmp_path / "photo.png").write_bytes(b"photo")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "person.png").write_bytes(b"mask")
    (tmp_path / "sub").mkdir()
    (tmp_path / "masks-link").symlink_to(tmp_path / "masks")
    (tmp_path / "alias.png").symlink_to(tmp_path / "photo.png")
    return tmp_path


@pytest.mark.parametrize(
    "dest, message",
    [
        (
            "sub/../photo.png",
            "refusing to overwrite the input file .*photo.png' \\(photo\\) with -o",
        ),
        ("alias.png", "refusing to overwrite the input file"),
        ("masks/person.png", "refusing to write -o .* a folder this run reads \\(--masks\\)"),
        ("masks-link/new.png", "refusing to write -o .* a folder this run reads"),
        ("sub/../masks/x.png", "refusing to write -o .* a folder this run reads"),
    ],
)
def test_no_output_lands_on_an_input_or_in_an_input_folder(tree, dest, message):
    inputs = [Input(tree / "photo.png", "photo"), Input(tree / "masks", "--masks")]
    with pytest.raises(InputError, match=message):
        write_outputs({tree / dest: png()}, inputs)
    assert (tree / "photo.png").read_bytes() == b"photo"
    assert names(tree / "masks") == ["person.png"]


def test_the_message_names_the_flag(tree):
    out = Output(tree / "masks" / "ids.png", "--overlay")
    with pytest.raises(InputError, match="refusing to write --overlay"):
        check_outputs([out], [Input(tree / "masks", "segmenter.maskfile.masks")])


# --- destinations checked before any work ---------------------------------------------------


def test_a_folder_is_not_a_file_destination(tmp_path):
    (tmp_path / "out.json").mkdir()
    report = Output(tmp_path / "out.json", "the report of -o")
    with pytest.raises(InputError, match="the report of -o '.*out.json' is a folder"):
        check_outputs([Output(tmp_path / "out.png"), report])


def test_a_fifo_is_not_a_destination(tmp_path):
    os.mkfifo(tmp_path / "out.png")
    with pytest.raises(InputError, match="is not a regular file"):
        check_outputs([tmp_path / "out.png"])


def test_too_little_disk_space_is_refused(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    with pytest.raises(InputError, match="not enough disk space for -o .* about 0.8 MB needed"):
        check_outputs([tmp_path / "out.png"], need_bytes=800_000)


def test_a_full_disk_while_writing_is_one_input_error_and_leaves_nothing(tmp_path):
    def full(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(InputError, match="cannot write -o '.*b.png': No space left on device"):
        write_outputs({tmp_path / "a.png": png(), Output(tmp_path / "b.png"): full})
    assert names(tmp_path) == []


def test_two_outputs_with_one_name_are_refused(tmp_path):
    with pytest.raises(InputError, match="are the same file"):
        check_outputs([Output(tmp_path / "a.json"), Output(tmp_path / "x" / ".." / "a.json")])


def test_a_lock_held_too_long_is_one_input_error(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "LOCK_TIMEOUT", 0.2)
    errors = []

    def writer():
        try:
            write_outputs({tmp_path / "out.png": text("x")})
        except InputError as exc:
            errors.append(str(exc))

    with outputs._folder_lock(tmp_path):
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(timeout=30)
    assert len(errors) == 1 and "holds the folder's lock" in errors[0]
    assert names(tmp_path) == []


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_writers_are_removed_by_the_next_one(tmp_path):
    pid = dead_pid()
    (tmp_path / f".out.png.tst-{pid}-0123abcd.part").write_text("half")
    (tmp_path / f".masks.tst-{pid}-0123abcd.part").mkdir()
    (tmp_path / f".gone.png.tst-{pid}-0123abcd.bak").write_text("old gone")  # moved aside
    (tmp_path / ".out.png.mine.part").write_text("not ours")  # another tool's: kept
    write_outputs({tmp_path / "other.png": text("x")})
    assert names(tmp_path) == [".out.png.mine.part", "gone.png", "other.png"]
    assert (tmp_path / "gone.png").read_text() == "old gone"


# --- folders of files -------------------------------------------------------------------------


def test_a_new_folder_gets_its_parents_and_can_hold_another_output(tmp_path):
    masks = tmp_path / "a" / "b" / "masks"
    written = write_outputs(
        {
            Output(masks, "--export-masks", folder=True): {"000_x.png": png()},
            Output(masks / "ids.png", "--overlay"): png(),
        }
    )
    assert written == (masks, masks / "ids.png")
    assert names(masks) == ["000_x.png", "ids.png"]


def test_a_failed_folder_write_leaves_nothing(tmp_path):
    def boom(tmp):
        raise RuntimeError("encoder bug")

    with pytest.raises(RuntimeError):
        write_outputs(
            {
                Output(tmp_path / "new" / "parents" / "m", folder=True): {
                    "a.png": png(),
                    "b.png": boom,
                },
                tmp_path / "ids.png": png(),
            }
        )
    assert names(tmp_path) == []
