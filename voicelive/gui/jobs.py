"""One background thread for slow work the GUI must never wait for.

Model updates (``sync_model``), store reads and writes, archive import/export and model loading
run here, one after another, in submission order. Each job's result (or exception) comes back on
the GUI thread: a Qt timer in the GUI thread drains the finished-jobs queue and calls the job's
``on_done`` / ``on_error`` there, so no callback ever touches a widget from another thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

__all__ = ["Job", "JobRunner", "JOB_THREAD_NAME"]

log = logging.getLogger(__name__)

JOB_THREAD_NAME = "voicelive-jobs"


@dataclass
class Job:
    """A unit of background work and what to do with its outcome on the GUI thread."""

    fn: Callable[[], Any]
    label: str = ""
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    quiet: bool = False
    result: Any = None
    error: BaseException | None = None
    started_s: float | None = None
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class JobRunner(QObject):
    """Runs jobs on one non-daemon thread; delivers outcomes on the GUI thread.

    Signals
    -------
    busyChanged(bool, str)
        Whether a job is queued or running, and the label of the current one.
    failed(str, str)
        A job without its own ``on_error`` raised: (label, message).
    """

    busyChanged = Signal(bool, str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, *, poll_ms: int = 50) -> None:
        super().__init__(parent)
        self._todo: queue.Queue[Job | None] = queue.Queue()
        self._finished: queue.Queue[Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending = 0            # submitted, not yet delivered (GUI thread only)
        self._shown = 0              # ... of those, the ones the busy indicator shows (not quiet)
        self._current = ""           # label of the running job (written by the job thread)
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)

    # -- GUI thread ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._pending > 0

    @property
    def current_label(self) -> str:
        return self._current

    def submit(self, fn: Callable[[], Any], *, label: str = "", on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None, quiet: bool = False) -> Job:
        """Queue ``fn`` to run in the background; returns the :class:`Job` (``job.done`` is set
        when it has run, its callbacks are called later, on the GUI thread). A ``quiet`` job (a
        routine check) does not turn the busy indicator on."""
        if self._closed:
            raise RuntimeError("the job runner is shut down")
        job = Job(fn=fn, label=label, on_done=on_done, on_error=on_error, quiet=quiet)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=JOB_THREAD_NAME, daemon=False)
            self._thread.start()
        self._pending += 1
        self._todo.put(job)
        if not self._timer.isActive():
            self._timer.start()
        if not quiet:
            self._shown += 1
            if self._shown == 1:
                self.busyChanged.emit(True, label)
        return job

    def poll(self) -> int:
        """Deliver finished jobs' outcomes (called by the timer); returns how many."""
        n = shown = 0
        while True:
            try:
                job = self._finished.get_nowait()
            except queue.Empty:
                break
            n += 1
            self._pending -= 1
            if not job.quiet:
                self._shown -= 1
                shown += 1
            self._deliver(job)
        if self._pending == 0:
            self._timer.stop()
        if shown:
            self.busyChanged.emit(self._shown > 0, self._current if self._shown else "")
        return n

    def _deliver(self, job: Job) -> None:
        if job.error is None:
            if job.on_done is not None:
                job.on_done(job.result)
            return
        if job.on_error is not None:
            job.on_error(job.error)
        else:
            self.failed.emit(job.label or "background task", str(job.error) or type(job.error).__name__)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job has run, then deliver them (tests and shutdown only)."""
        deadline = time.monotonic() + timeout
        while self._pending > 0:
            self.poll()
            if self._pending == 0:
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def shutdown(self, timeout: float | None = None) -> bool:
        """Let queued jobs finish (they write the store atomically, so none is cut short), stop
        the thread, and drop the outcomes nobody is left to show. True if the thread ended."""
        self._closed = True
        self._timer.stop()
        t = self._thread
        if t is None:
            return True
        if t.is_alive() and self._pending:
            log.info("waiting for background work to finish: %s", self._current or "queued jobs")
        self._todo.put(None)
        t.join(timeout)
        if t.is_alive():
            log.warning("background job '%s' still running at exit", self._current)
            return False
        self._thread = None
        return True

    # -- job thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._todo.get()
            if job is None:
                return
            self._current = job.label
            job.started_s = time.perf_counter()
            try:
                job.result = job.fn()
            except Exception as exc:  # reported on the GUI thread; never kills the job thread
                job.error = exc
                log.warning("background job '%s' failed: %s: %s", job.label, type(exc).__name__, exc,
                            exc_info=not _is_expected(exc))
            job.seconds = time.perf_counter() - job.started_s
            self._current = ""
            job.done.set()
            self._finished.put(job)


def _is_expected(exc: BaseException) -> bool:
    from voicelive.errors import VoiceliveError

    return isinstance(exc, VoiceliveError)
