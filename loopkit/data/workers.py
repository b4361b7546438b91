"""Worker processes for ``loopkit extract``: a pool that runs one function on many files in parallel, with a
per-file time limit, and survives a worker that hangs or crashes.

Each worker is a fresh ``python -c`` process (not multiprocessing): it does not depend on the caller's
``__main__`` or on forking a process that may hold threads, and it can be killed at any moment. The parent talks
to it over two pipes with length-prefixed pickles: first ``(work, context, preload)`` (``work`` a module-level
function, pickled by reference, so the worker imports its module itself), then ``(index, path, data)`` tasks;
the worker answers ``("ready",)`` once, then ``(index, work(context, path, data))`` per task, then
``("peak_rss", bytes)``. A worker that overruns the time limit (a hung parser cannot be interrupted in-process)
is killed and replaced, and so is one that dies (a crashing parser); the pool reports either as the task's
failure, and hands the tasks queued behind it to other workers, in input order.
"""

from __future__ import annotations

import importlib
import os
import pickle
import resource
import select
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

_WORKER_CODE = "import sys; from loopkit.data.workers import worker_main; worker_main(int(sys.argv[1]), int(sys.argv[2]))"
_FRAME_BYTES = 8  # little-endian u64 length before each pickle
#: a second task is queued to a busy worker only when it is this small (it then waits in the pipe's buffer)
PIPELINE_BYTES = 16 * 1024
#: seconds a new worker process may take to start (import numpy, symusic)
START_TIMEOUT_S = 120.0


class WorkerStartError(RuntimeError):
    """A worker process could not be started (its own error is printed on stderr)."""


class Task(NamedTuple):
    """One file for a worker: its input index, a label (``source``) and either a path to read or its bytes."""

    index: int
    source: str
    path: str | None
    data: bytes | None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else len(self.path or "")


# ---------------------------------------------------------------------------------------------------------
# the pipe protocol


def write_message(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(_FRAME_BYTES, "little") + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int):
    n = int.from_bytes(_read_exactly(fd, _FRAME_BYTES), "little")
    return pickle.loads(_read_exactly(fd, n))


def peak_rss() -> int:
    """Peak resident memory of this process in bytes (``VmHWM``; ``ru_maxrss`` would include the memory of
    the process that started it, which Linux carries across ``exec``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------------------------------------
# inside a worker process


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphans after a SIGKILL of the run)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(task_fd: int, result_fd: int) -> None:
    """Main loop of a worker process (see the module docstring)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends its workers
    try:
        work, context, preload = read_message(task_fd)
        for name in preload:  # imported before "ready", so no file's time limit pays for it
            importlib.import_module(name)
        write_message(result_fd, ("ready",))
        while True:
            msg = read_message(task_fd)
            if msg is None:
                break
            index, path, data = msg
            write_message(result_fd, (index, work(context, path, data)))
        write_message(result_fd, ("peak_rss", peak_rss()))
    except (EOFError, BrokenPipeError):
        pass  # the parent went away


# ---------------------------------------------------------------------------------------------------------
# in the parent


class _Worker:
    def __init__(self, start: tuple):
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        for fd in (task_w, result_w):
            try:
                import fcntl

                fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ: 1 MiB buffers where the system allows
            except (OSError, ImportError):
                pass
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(task_r), str(result_w)],
            pass_fds=(task_r, result_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(task_r)
        os.close(result_w)
        self.task_fd, self.result_fd = task_w, result_r
        self.ready = False
        self.started = time.monotonic()
        self.queue: deque[Task] = deque()
        self.since = 0.0  # when the task at the head of the queue started
        write_message(self.task_fd, start)

    def can_take(self, task: Task) -> bool:
        if not self.ready:
            return False
        return not self.queue or (len(self.queue) == 1 and task.size <= PIPELINE_BYTES)

    def send(self, task: Task) -> None:
        if not self.queue:
            self.since = time.monotonic()
        self.queue.append(task)
        write_message(self.task_fd, (task.index, task.path, task.data))

    def close(self, kill: bool = True) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.task_fd, self.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.task_fd = self.result_fd = -1


def _death_reason(proc) -> str:
    try:
        code = proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit status {code}"
    return f"the worker process died while reading this file ({how}); the parser crashed on it"


@dataclass
class PoolReport:
    """What a pool run did besides its results: each worker's peak memory, and how many workers were replaced."""

    worker_rss: list[int] = field(default_factory=list)
    restarts: int = 0


def run_pool(
    n: int,
    work: Callable,
    context,
    next_task: Callable[[], Task | None],
    on_result: Callable[[Task, object], None],
    on_failure: Callable[[Task, str], None],
    time_limit: float,
    preload: tuple[str, ...] = (),
) -> PoolReport:
    """Run ``work(context, task.path, task.data)`` in ``n`` worker processes for every task ``next_task`` gives
    (until it gives None); ``on_result(task, result)`` is called for each in the parent, ``on_failure(task,
    reason)`` for a task whose worker overran ``time_limit`` seconds or died (the worker is then replaced).

    ``work`` must be a module-level function (pickled by reference) and ``context`` picklable; ``preload`` names
    modules each worker imports before it takes a task.
    """
    start = (work, context, tuple(preload))
    report = PoolReport()
    pool = [_Worker(start) for _ in range(n)]
    retry: deque[Task] = deque()
    pending: Task | None = None
    exhausted = False

    def receive(w: _Worker) -> _Worker:
        """Take one message from a worker that has something to say; replace the worker if it died."""
        try:
            msg = read_message(w.result_fd)
        except (EOFError, OSError):
            if not w.ready:
                code = w.proc.wait()
                raise WorkerStartError(
                    f"a worker process failed to start (exit status {code}); its error is printed above"
                ) from None
            reason = _death_reason(w.proc)
            w.close()
            if w.queue:
                task = w.queue.popleft()
                retry.extendleft(reversed(w.queue))
                on_failure(task, reason)
            report.restarts += 1
            return _Worker(start)
        if msg == ("ready",):
            w.ready = True
            return w
        index, result = msg
        task = w.queue.popleft()
        if index != task.index:
            raise RuntimeError(f"internal error: a worker answered for file {index}, expected {task.index}")
        on_result(task, result)
        w.since = time.monotonic()
        return w

    try:
        while True:
            # hand out work: tasks of a dead worker first, in input order, then new ones
            for w in pool:
                while True:
                    if pending is None:
                        if retry:
                            pending = retry.popleft()
                        elif not exhausted:
                            pending = next_task()
                            exhausted = pending is None
                    if pending is None or not w.can_take(pending):
                        break
                    task, pending = pending, None
                    try:
                        w.send(task)
                    except OSError:  # the worker died: its results are read, and it is replaced, below
                        break
            if pending is None and not retry and exhausted and not any(w.queue for w in pool):
                break
            now = time.monotonic()
            deadlines = [w.since + time_limit for w in pool if w.queue]
            deadlines += [w.started + START_TIMEOUT_S for w in pool if not w.ready]
            timeout = max(0.0, min(deadlines, default=now + 1.0) - now)
            poller = select.poll()
            for w in pool:
                poller.register(w.result_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            readable = {fd for fd, _ in poller.poll(timeout * 1000)}
            for i, w in enumerate(pool):
                if w.result_fd in readable:
                    pool[i] = receive(w)
            now = time.monotonic()
            for i, w in enumerate(pool):
                if not w.ready and now - w.started > START_TIMEOUT_S:
                    raise WorkerStartError(f"a worker process did not start within {START_TIMEOUT_S:g} s")
                if w.queue and now - w.since > time_limit:
                    task = w.queue.popleft()
                    retry.extendleft(reversed(w.queue))
                    w.queue.clear()
                    w.close()
                    on_failure(
                        task,
                        f"timed out: took longer than the per-file time limit of {time_limit:g} s "
                        "(its worker process was killed)",
                    )
                    pool[i] = _Worker(start)
                    report.restarts += 1
        for w in pool:
            try:
                write_message(w.task_fd, None)
            except OSError:
                pass
        for w in pool:
            try:
                msg = read_message(w.result_fd)
                if isinstance(msg, tuple) and msg[0] == "peak_rss":
                    report.worker_rss.append(int(msg[1]))
            except (EOFError, OSError):
                pass
            w.close(kill=False)
    finally:
        for w in pool:
            if w.task_fd >= 0:
                w.close()
    return report
