"""Dynamic micro-batching: concurrent requests share model calls.

Each request's texts are queued; one collector task takes the oldest waiting request and adds
later ones (same key, whole requests) until ``max_batch_size`` texts are gathered or ``max_wait_ms``
has passed since it began collecting, then runs the model on them in a worker thread (never on the
event loop) and hands every request its own slice of the results. At most ``max_concurrent`` calls
run at once, each in its own thread; while they run, new requests queue up, so batches grow with the
load. A request with more texts than ``max_batch_size`` is split into chunks that go into
successive calls. An exception raised by the model reaches the requests of that call only.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("tunelab.serve.batching")

BatchFn = Callable[[list[Any], Any], Sequence[Any]]
"""``fn(items, key) -> one result per item``: the model call, run in the worker thread."""


class BatcherClosed(RuntimeError):
    """The batcher was shut down; the request was not (or not fully) answered."""


class QueueFull(RuntimeError):
    """More items are waiting than ``max_queue`` allows: back off and retry."""


@dataclass(eq=False)
class _Job:
    items: Sequence[Any]
    key: Hashable
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Groups concurrent ``submit`` calls into calls of ``fn`` of up to ``max_batch_size`` items.

    ``on_batch(size, seconds)`` is called on the event loop after every model call (metrics)."""

    def __init__(
        self,
        fn: BatchFn,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_concurrent: int = 1,
        max_queue: int | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        thread_name: str = "tunelab-inference",
    ) -> None:
        if max_batch_size < 1 or max_concurrent < 1:
            raise ValueError("max_batch_size and max_concurrent must be at least 1")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max_queue
        self.max_concurrent = max_concurrent
        self.on_batch = on_batch
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix=thread_name)
        self._running: set[asyncio.Task] = set()
        self._pending: collections.deque[_Job] = collections.deque()
        self._queued = 0
        self._wakeup = asyncio.Event()  # replaced on start(), on the running loop
        self._task: asyncio.Task | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        """Items waiting for a model call."""
        return self._queued

    def start(self) -> None:
        """Start the collector on the running event loop (``submit`` starts it too)."""
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._collect_forever(), name="tunelab-batcher")

    async def submit(self, items: Sequence[Any], key: Hashable = None) -> list[Any]:
        """Results of ``fn`` for ``items``, in order; raises what ``fn`` raised for their batch."""
        if self._closed:
            raise BatcherClosed("the service is shutting down")
        if not items:
            return []
        if self.max_queue is not None and self._queued + len(items) > self.max_queue:
            raise QueueFull(f"{self._queued} texts are already waiting (limit {self.max_queue})")
        self.start()
        loop = asyncio.get_running_loop()
        size = self.max_batch_size
        jobs = [_Job(items[i : i + size], key, loop.create_future()) for i in range(0, len(items), size)]
        self._pending.extend(jobs)
        self._queued += len(items)
        self._wakeup.set()
        try:
            parts = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:
            for job in jobs:  # e.g. the client went away: drop what has not run yet
                job.future.cancel()
            raise
        return [result for part in parts for result in part]

    async def close(self) -> None:
        """Stop collecting; requests still waiting get BatcherClosed."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(BatcherClosed("the service is shutting down"))
        self._queued = 0
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- collector -----------------------------------------------------------------------------
    async def _collect_forever(self) -> None:
        slots = asyncio.Semaphore(self.max_concurrent)  # a batch is collected only when a thread is free

        def done(task: asyncio.Task) -> None:
            self._running.discard(task)
            slots.release()

        while True:
            await slots.acquire()
            try:
                while not self._pending:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                jobs = await self._collect()
            except BaseException:
                slots.release()
                raise
            if not jobs:
                slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._execute(jobs))
            self._running.add(task)
            task.add_done_callback(done)

    def _take_ready(self, jobs: list[_Job], size: int, key: Hashable) -> tuple[int, bool]:
        """Move waiting jobs that fit into ``jobs``; returns the new size and whether the batch is closed."""
        while self._pending:
            job = self._pending[0]
            if job.future.done():  # cancelled while waiting
                self._pending.popleft()
                self._queued -= len(job.items)
                continue
            if job.key != key or size + len(job.items) > self.max_batch_size:
                return size, True  # keep arrival order: this job starts the next batch
            self._pending.popleft()
            self._queued -= len(job.items)
            jobs.append(job)
            size += len(job.items)
        return size, size >= self.max_batch_size

    async def _collect(self) -> list[_Job]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while self._pending and self._pending[0].future.done():  # cancelled while waiting
            self._queued -= len(self._pending.popleft().items)
        if not self._pending:
            return []
        key = self._pending[0].key
        jobs: list[_Job] = []
        size, full = self._take_ready(jobs, 0, key)
        while not full:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
            size, full = self._take_ready(jobs, size, key)
        return jobs

    async def _execute(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.fn, items, jobs[0].key)
            if len(results) != len(items):
                raise RuntimeError(f"the model returned {len(results)} results for {len(items)} inputs")
        except asyncio.CancelledError:
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(BatcherClosed("the service is shutting down"))
            raise
        except Exception as exc:
            log.warning("model call on %d texts failed: %s", len(items), type(exc).__name__)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            if self.on_batch is not None:
                self.on_batch(len(items), time.perf_counter() - started)
        offset = 0
        for job in jobs:
            n = len(job.items)
            if not job.future.done():
                job.future.set_result(list(results[offset : offset + n]))
            offset += n
