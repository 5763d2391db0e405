"""``tst batch``'s own first writes — the output folder, its lock, its record — fail with one
line and exit 2 (issue 23 class 7), on a full disk or with a file in the way."""

from __future__ import annotations

import errno
import os

import pytest

from ..batching.conftest import write_photo


@pytest.fixture
def one(tmp_path):
    write_photo(tmp_path / "p.png", 1)
    write_photo(tmp_path / "s.png", 2, (24, 24))
    return tmp_path


def _batch(cli, root, out):
    args = ["batch", root / "p.png", "-o", out, "--style", f"all={root / 's.png'}"]
    return cli(*args, "--engine", "fake-fill", "--executor", "inline", "--progress", "off")


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["lock", "record", "folder"])
def test_a_full_disk_at_the_batch_s_first_write_is_one_line(cli, one, monkeypatch, where):
    import tst_core.batching.record as record

    if where == "lock":
        monkeypatch.setattr(record.os, "ftruncate", _enospc)
    elif where == "record":
        monkeypatch.setattr(record.os, "fsync", _enospc)
    else:
        from pathlib import Path

        monkeypatch.setattr(Path, "mkdir", _enospc)
    code, _, err = _batch(cli, one, one / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device" in err, err


def test_o_naming_a_file_is_one_line(cli, one):
    (one / "out").write_text("a file, not a folder")
    code, _, err = _batch(cli, one, one / "out")
    assert code == 2 and "is not a folder" in err, err
