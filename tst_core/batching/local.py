"""The local executor: ``--jobs N`` worker processes, each holding its own built plugins.

Workers are started with ``spawn`` (safe with torch's thread pools) and limited to their share
of the CPU threads. A worker that dies (killed, out of memory, a crash in native code) costs
only the photo it was running, which is recorded as failed; a new worker takes its place.

A worker dies with its batch, however the batch ended (``kill -9`` too): on Linux the kernel
sends it SIGTERM when the batch process goes (``PR_SET_PDEATHSIG``), and a thread of its own
checks every half second that its parent is still the batch, sending SIGTERM itself if not
(and SIGKILL if that has not ended it within :data:`GRACE` seconds). SIGTERM unwinds the
worker, so a write in progress removes its temporaries; and before each write the worker
checks that the folder's lock still names its batch (:func:`.record.check_owner`).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn

from ..device import NUMERIC_THREADS_ENV
from ..errors import TstError
from .dispatch import Dispatcher
from .jobs import Job
from .record import PhotoResult
from .worker import Worker, WorkerSpec, _one_line

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: the signals that stop a batch (the command line raises Terminated on SIGTERM, see cli.signals)
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
#: seconds an orphaned worker has to unwind after its SIGTERM before it kills itself
GRACE = 10.0
#: seconds between two checks that the batch process is still the worker's parent
WATCH_EVERY = 0.5


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_gpus(device: str, count: int, visible: str | None) -> list[str]:
    """The CUDA devices to spread local workers over, one each in turn: every visible one when
    the configured device is generic (``auto``, ``cuda``) and there are several; else none (the
    workers see what this process sees).

    :param count: ``torch.cuda.device_count()``.
    :param visible: ``$CUDA_VISIBLE_DEVICES``.
    """
    if device not in ("auto", "cuda") or count < 2:
        return []
    ids = [v.strip() for v in (visible or "").split(",") if v.strip()]
    return (ids or [str(i) for i in range(count)])[:count]


def limit_threads(threads: int) -> None:
    """Make torch (and the runtimes that follow it) use ``threads`` CPU threads here."""
    import torch

    torch.set_num_threads(threads)


def _stopped(signum: int, frame: Any) -> NoReturn:
    # The first SIGTERM unwinds the worker; a second one (the group's SIGTERM, then the
    # batch's own when it stops its workers) must not cut that unwinding, nor land in an
    # atexit callback as a traceback on the batch's stderr
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def _die_with_parent(parent: int) -> None:
    """End this worker when process ``parent`` (the batch) is gone (see the module docstring)."""
    with contextlib.suppress(Exception):  # not Linux, or no libc to ask: the thread below
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the batch died before the kernel was asked to tell us
        os._exit(128 + signal.SIGTERM)
    threading.Thread(target=_watch, args=(parent,), name="tst-watch-batch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE)
    os.kill(os.getpid(), signal.SIGKILL)


def _child(
    conn: Connection, spec: WorkerSpec, threads: int, setup_job: Job, parent: int = 0
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the batch on Ctrl-C...
    # ...with SIGTERM, which unwinds (a write in progress removes its temporaries) instead of
    # ending the process where it stands
    signal.signal(signal.SIGTERM, _stopped)
    if parent:
        _die_with_parent(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # held while it started
    limit_threads(threads)
    worker = Worker(spec)
    try:
        try:
            seconds = worker.setup(setup_job)
        except Exception as exc:
            conn.send(("fatal", _one_line(exc) if isinstance(exc, TstError) else repr(exc)))
            return
        conn.send(("ready", worker.name, seconds, worker.prefetch))
        while (msg := conn.recv())[0] != "stop":
            conn.send(("result", worker.run(msg[1], msg[2])))
    except (EOFError, OSError):  # the batch is gone (killed): so is this worker
        pass
    finally:
        worker.close()
        # nothing left to clean up: a SIGTERM from here on ends the process quietly, even
        # while the interpreter runs its exit handlers
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class _Proc:
    process: Any
    conn: Connection
    gpu: str | None = None
    ready: bool = False
    prefetch: bool = False


class LocalExecutor:
    """Runs jobs on ``workers`` processes of ``threads`` CPU threads each.

    :param numeric: the CPU threads the style engine computes with in every worker (see
        :func:`~tst_core.device.numeric_threads`): the same whatever ``workers``, so that the
        pictures do not depend on the parallelism; ``None``: ``threads``.
    :param gpus: CUDA device ids to give the workers in turn (see :func:`worker_gpus`).
    :param on_setup: called with ``(worker name, seconds)`` when a worker has built its plugins.
    """

    def __init__(
        self,
        spec: WorkerSpec,
        workers: int,
        threads: int,
        gpus: Sequence[str] = (),
        on_setup: Any = None,
        numeric: int | None = None,
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.threads = threads
        self.numeric = numeric or threads
        self.gpus = list(gpus)
        self.on_setup = on_setup or (lambda name, seconds: None)
        self._ctx = mp.get_context("spawn")
        self._procs: dict[int, _Proc] = {}
        self._next_id = 0

    def run(self, jobs: Sequence[Job]) -> Iterator[PhotoResult]:
        """Yield each job's result as it finishes (in finishing order)."""
        if not jobs:
            return
        dispatch = Dispatcher(jobs)
        try:
            for _ in range(min(self.workers, len(jobs))):
                self._start(jobs[0])
            while dispatch.busy and self._procs:
                yield from self._step(dispatch, jobs[0])
        finally:
            self._stop_all()

    def _step(self, dispatch: Dispatcher, setup_job: Job) -> Iterator[PhotoResult]:
        by_handle: dict[Any, int] = {}
        for wid, held in self._procs.items():
            by_handle[held.conn] = wid
            by_handle[held.process.sentinel] = wid
        for handle in wait(list(by_handle)):
            wid = by_handle[handle]
            if wid not in self._procs:  # its pipe and its sentinel both woke us
                continue
            proc = self._procs[wid]
            try:
                msg = proc.conn.recv() if handle is proc.conn else None
            except (EOFError, OSError):
                msg = None
            if msg is None:
                yield from self._died(wid, dispatch, setup_job)
            elif msg[0] == "fatal":
                raise TstError(msg[1])
            elif msg[0] == "ready":
                proc.ready, proc.prefetch = True, msg[3]
                self.on_setup(msg[1], msg[2])
                self._give(wid, dispatch)
            else:
                self._give(wid, dispatch)
                yield msg[1]

    def _give(self, wid: int, dispatch: Dispatcher) -> None:
        proc = self._procs[wid]
        work = dispatch.assign(wid, proc.prefetch)
        if work is None:
            proc.conn.send(("stop",))
            proc.process.join(timeout=30)
            self._close(wid)
            return
        try:
            proc.conn.send(("run", *work))
        except OSError:  # it died after its last result: the sentinel reports it next
            requeue = dispatch.lost(wid)
            if requeue is not None:
                dispatch.queue.appendleft(requeue)

    def _died(self, wid: int, dispatch: Dispatcher, setup_job: Job) -> Iterator[PhotoResult]:
        proc = self._procs[wid]
        proc.process.join(timeout=5)
        code = proc.process.exitcode
        how = f"was killed by signal {-code}" if code and code < 0 else f"exited with status {code}"
        self._close(wid)
        if not proc.ready:
            raise TstError(f"a batch worker process {how} while loading the models")
        lost = dispatch.lost(wid)
        if lost is not None:
            yield PhotoResult(
                str(lost.photo), "failed", f"the worker process {how} while running this photo"
            )
        if dispatch.queue:
            self._start(setup_job)

    def _start(self, setup_job: Job) -> None:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_child,
            args=(child, self.spec, self.threads, setup_job, os.getpid()),
            name=f"tst-batch-{self._next_id}",
            daemon=True,
        )
        gpu = self._least_used_gpu()
        env = {k: str(self.threads) for k in _THREAD_VARS}
        env[NUMERIC_THREADS_ENV] = str(self.numeric)
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        with _environment(env), _signals_held():
            process.start()
            child.close()
            self._procs[self._next_id] = _Proc(process, parent, gpu)
            self._next_id += 1

    def _least_used_gpu(self) -> str | None:
        if not self.gpus:
            return None
        used = [proc.gpu for proc in self._procs.values()]
        return min(self.gpus, key=used.count)

    def _close(self, wid: int) -> None:
        proc = self._procs.pop(wid)
        proc.conn.close()

    def _stop_all(self) -> None:
        with _signals_held():  # a second Ctrl-C does not leave workers behind
            for wid in list(self._procs):
                proc = self._procs[wid]
                if proc.ready:
                    proc.process.terminate()
                else:  # still loading: it holds SIGTERM (see _signals_held) and no photo
                    proc.process.kill()
                proc.process.join(timeout=10)
                if proc.process.is_alive():
                    proc.process.kill()
                    proc.process.join()
                self._close(wid)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM off the block (a worker's start, the workers' stop) and act on
    them after it.

    A Ctrl-C that cut ``Process.start()`` after it spawned the child but before it wrote the
    child's arguments down the pipe left a child that died of ``EOFError: Ran out of input``
    (a traceback after "tst: interrupted") and that the batch did not know to stop. Workers
    also inherit the blocked signals, so the Ctrl-C that a terminal sends to the whole
    process group cannot cut their start-up either; :func:`_child` ignores SIGINT and
    unblocks them.
    """
    handlers = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    if threading.current_thread() is not threading.main_thread() or None in handlers.values():
        # Python runs its signal handlers in the main thread only, so nothing cuts a block
        # run elsewhere; a handler set outside Python (None here) could not be put back
        yield
        return
    resource_tracker.ensure_running()  # starting its process unblocks the signals again
    pending: list[int] = []
    for s in _STOP_SIGNALS:  # a signal delivered to another thread still reaches the handler
        signal.signal(s, lambda signum, frame: pending.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # held signals are noted now
        for s, handler in handlers.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)  # to the restored handler: KeyboardInterrupt or Terminated


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment a child starts with (thread counts its native libraries
    read when they load, the GPU it may see)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
