"""The job queue of ``tst ui``: one job at a time in order, positions, cancel (queued and
running), abandoned jobs, one-line errors, throttled previews."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from tst_ui import jobs
from tst_ui.jobs import Job, JobQueue, error_line

from tst_core.errors import SelectionError
from tst_core.types import Progress

from .helpers import wait_for


@pytest.fixture
def queue():
    q = JobQueue(abandon_after=30.0)
    q.start()
    yield q
    q.stop(timeout=10)


def looping(until: threading.Event, log: list[str], name: str):
    """Work that reports progress every 5 ms until ``until`` is set (or it is cancelled)."""

    def work(job: Job) -> dict:
        log.append(f"start {name}")
        step = 0
        while not until.is_set():
            step += 1
            job.progress(Progress("stylize", step, 10_000, {"total": 1.0}))
            time.sleep(0.005)
        log.append(f"end {name}")
        return {"name": name}

    return work


def test_jobs_run_one_at_a_time_in_order_and_the_waiting_ones_know_their_place(queue):
    log: list[str] = []
    gates = [threading.Event() for _ in range(3)]
    a, b, c = (
        queue.submit(Job("run", looping(g, log, n))) for g, n in zip(gates, "abc", strict=True)
    )
    wait_for(lambda: a.state == "running", what="a to start")
    assert [queue.position(j) for j in (a, b, c)] == [0, 1, 2]
    assert (b.state, c.state) == ("queued", "queued")
    gates[0].set()
    wait_for(lambda: b.state == "running", what="b to start")
    assert a.state == "done" and a.result == {"name": "a"}
    assert queue.position(c) == 1
    gates[1].set()
    gates[2].set()
    wait_for(lambda: c.finished, what="c to finish")
    assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]


def test_a_cancelled_queued_job_never_runs_and_a_running_one_stops_at_its_next_iteration(queue):
    log: list[str] = []
    never = threading.Event()
    a = queue.submit(Job("run", looping(never, log, "a")))
    b = queue.submit(Job("run", looping(never, log, "b")))
    wait_for(lambda: a.step > 3, what="a to iterate")
    queue.cancel(b)
    assert b.state == "cancelled" and queue.position(b) == 0  # at once: it was only waiting
    queue.cancel(a)
    wait_for(lambda: a.finished, what="a to stop")
    assert a.state == "cancelled" and a.note == "cancelled" and a.result == {}
    step = a.step
    time.sleep(0.05)
    assert a.step == step and log == ["start a"]  # it stopped inside the loop; b never started


def test_a_failed_job_is_the_cli_s_one_line_and_an_unexpected_one_says_where_the_traceback_is(
    queue, capsys
):
    def user_error(job):
        raise SelectionError("selector 'dog' matches nothing;\n labels found: person")

    def bug(job):
        raise KeyError("layers")

    a = queue.submit(Job("run", user_error))
    b = queue.submit(Job("run", bug))
    wait_for(lambda: b.finished, what="b to fail")
    assert a.error == "tst: error: selector 'dog' matches nothing; labels found: person"
    assert b.error == (
        "tst: internal error: KeyError: 'layers' (the traceback is in the server's log)"
    )
    assert (a.state, b.state) == ("failed", "failed")
    assert "Traceback" in capsys.readouterr().err  # only the bug's traceback, on the server
    assert error_line(SelectionError("x")) == "tst: error: x"


def test_a_job_nobody_watches_is_cancelled_queued_or_running_and_a_watched_one_is_not():
    q = JobQueue(abandon_after=0.3)
    q.start()
    try:
        never = threading.Event()
        watched = q.submit(Job("run", looping(never, [], "watched")))
        q.watch(watched)
        waiting = q.submit(Job("run", looping(never, [], "waiting")))
        wait_for(lambda: waiting.finished, timeout=5, what="the unwatched queued job")
        assert waiting.state == "cancelled" and "no page watched it for 0.3 s" in waiting.note
        time.sleep(0.6)
        assert watched.state == "running"
        q.unwatch(watched)  # the tab closed
        wait_for(lambda: watched.finished, timeout=5, what="the abandoned running job")
        assert watched.state == "cancelled" and "no page watched it" in watched.note
    finally:
        q.stop(timeout=10)


def test_previews_are_kept_at_most_every_preview_every_seconds(monkeypatch):
    monkeypatch.setattr(jobs, "PREVIEW_EVERY", 0.2)
    job = Job("run", lambda job: {})
    picture = torch.rand(3, 8, 8)
    job.progress(Progress("stylize", 1, 10, {}, snapshot=picture))
    assert job.preview_version == 1 and torch.equal(job.preview, picture)
    job.progress(Progress("stylize", 2, 10, {}, snapshot=torch.zeros(3, 8, 8)))
    assert job.preview_version == 1
    time.sleep(0.25)
    job.progress(Progress("stylize", 3, 10, {"total": 2.5}, snapshot=torch.zeros(3, 8, 8)))
    assert job.preview_version == 2 and float(job.preview.max()) == 0.0
    assert (job.step, job.total, job.loss) == (3, 10, 2.5)


def test_stopping_waits_for_a_job_without_iterations_no_longer_than_asked():
    """Ctrl-C must not hang on a job in a stage that never reports progress (so never sees
    its cancellation): the queue waits ``timeout`` seconds in all, then lets it be."""
    q = JobQueue(abandon_after=30.0)
    q.start()
    release = threading.Event()
    job = q.submit(Job("run", lambda job: release.wait(60) and {}))
    wait_for(lambda: job.state == "running", what="the job to start")
    t0 = time.monotonic()
    q.stop(timeout=0.5)
    assert time.monotonic() - t0 < 2.0
    release.set()
