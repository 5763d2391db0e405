"""`tst batch --executor ray` on a local Ray cluster of 2 CPUs that the tests start: the same
checks as the local executor, a killed actor, and a killed driver."""

from __future__ import annotations

import os
import sys

import pytest

from tst_core.cli import main

from .checks import (
    check_kill_and_rerun,
    check_killed_worker,
    check_mixed_folder,
    check_same_pictures,
)


def test_mixed_folder_done_skipped_failed(ray_cluster, shoot, capsys):
    check_mixed_folder(shoot, capsys, "--executor", "ray", "--jobs", "2")


def test_the_executor_keeps_rays_hands_off_print(monkeypatch):
    from tst_core.batching.ray_executor import PATCH_PRINT_ENV, import_ray

    monkeypatch.delenv(PATCH_PRINT_ENV, raising=False)
    import_ray()
    assert os.environ[PATCH_PRINT_ENV] == "0"


def test_a_killed_actor_costs_its_photo_only(ray_cluster, shoot, capsys):
    reason = "the Ray actor running this photo died"
    check_killed_worker(shoot, capsys, reason, "--executor", "ray", "--jobs", "2")


def test_a_killed_driver_is_resumed(ray_cluster, tmp_path, capsys):
    """The driver process (on the test's cluster) killed mid-batch; the rerun finishes."""
    check_kill_and_rerun(tmp_path, capsys, "--executor", "ray", "--address", ray_cluster)


@pytest.mark.needs_shared
def test_ray_gives_the_pictures_of_jobs_1(ray_cluster, tmp_path, shared, capsys):
    style = shared("images", "style", "starry_night.jpg")
    check_same_pictures(
        tmp_path, style, capsys, "--executor", "ray", "--address", ray_cluster, "--jobs", "2"
    )


def test_without_ray_the_executor_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    (tmp_path / "p.png").write_bytes(b"")
    out = tmp_path / "out"
    code = main(
        ["batch", str(tmp_path), "-o", str(out), "--style", "all=s.png", "--executor", "ray"]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert 'pip install "targeted-style-transfer[ray]"' in err
    assert not out.exists()
    assert os.listdir(tmp_path) == ["p.png"]
