"""An async front for a blocking encoder that batches concurrent callers together.

Each `await encode(texts)` joins a bounded queue. A drain task, started when requests are
waiting and gone when none are, collects requests for up to `max_wait` seconds after the
oldest one arrived (or until `max_batch` texts), runs one blocking `encode` of all their
texts in its own worker thread (never on the event loop) and hands every caller its own
rows, in order. One request is never split; a request larger than `max_batch` runs alone.
If the encoder raises, every caller of that batch gets the exception; later batches go on.
`aclose()` refuses new calls, fails queued ones with `EncoderClosedError` and waits for the
batch in flight to finish.

It has the encoder's `name` and `dim`, so it satisfies `matching.embeddings.AsyncEncoder`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rapport import metrics


class BlockingEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


class EncoderClosedError(RuntimeError):
    """The BatchingEncoder was closed before (or while) this request was queued."""


@dataclass(eq=False)
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    arrived: float = field(default_factory=time.monotonic)


class BatchingEncoder:
    def __init__(
        self,
        encoder: BlockingEncoder,
        *,
        max_batch: int = 64,
        max_wait: float = 0.005,
        max_queue: int = 1024,
        batch_size: int = 32,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or batch_size < 1 or max_wait < 0:
            raise ValueError("max_batch, max_queue and batch_size must be >= 1, max_wait >= 0")
        self.encoder = encoder
        self.name: str = encoder.name
        self.dim: int = encoder.dim
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.batch_size = batch_size
        # Counters, for metrics and tests.
        self.batches_run = 0  # blocking encode calls that returned
        self.texts_encoded = 0  # texts in those calls
        self.requests_served = 0  # encode() calls answered with vectors
        self.largest_batch = 0  # most texts in one call
        self._pending: collections.deque[_Request] = collections.deque()
        self._pending_texts = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._space: asyncio.Semaphore | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"BatchingEncoder({self.name!r}, batches_run={self.batches_run}, "
            f"texts_encoded={self.texts_encoded}, pending={len(self._pending)})"
        )

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Requests queued and not yet taken into a batch."""
        return len(self._pending)

    async def __aenter__(self) -> BatchingEncoder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts` (float32, (len(texts), dim)), batched with concurrent calls.
        Waits while `max_queue` requests are already queued (backpressure)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of strings, not a string")
        if self._closed:
            raise EncoderClosedError("the encoder is closed")
        request_texts = list(texts)
        if not request_texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        self._bind(loop)
        assert self._space is not None and self._arrived is not None
        await self._space.acquire()
        if self._closed:
            self._space.release()
            raise EncoderClosedError("the encoder is closed")
        request = _Request(request_texts, loop.create_future())
        self._pending.append(request)
        self._pending_texts += len(request_texts)
        self._arrived.set()
        if self._task is None:
            self._task = loop.create_task(self._drain(), name="batching-encoder")
        return await request.future

    async def aclose(self) -> None:
        """Stop: new calls raise EncoderClosedError, queued requests fail with it, and the
        batch in flight (if any) finishes and answers its callers before this returns."""
        self._closed = True
        error = EncoderClosedError("the encoder was closed before this request ran")
        while self._pending:
            self._fail(self._take_one(), error)
        if self._arrived is not None:
            self._arrived.set()  # a drain task waiting for more requests stops waiting
        task = self._task
        if task is not None and not task.done():
            task_loop = task.get_loop()
            if task_loop is asyncio.get_running_loop():
                await asyncio.gather(task, return_exceptions=True)
            elif not task_loop.is_closed():  # another loop's task: only ask it to stop
                task_loop.call_soon_threadsafe(task.cancel)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    # -- internals: everything below runs on the event loop, except encoder.encode

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Asyncio primitives belong to one loop: make them for the caller's, which may
        change only while idle (e.g. one encoder reused by successive test clients)."""
        if self._loop is loop:
            return
        if self._task is not None and (self._task.done() or self._task.get_loop().is_closed()):
            # Its loop stopped before the task could tidy up: what it held is gone too.
            self._task = None
            self._pending.clear()
            self._pending_texts = 0
        if self._task is not None or self._pending:
            raise RuntimeError("BatchingEncoder is busy on another event loop")
        self._loop = loop
        self._arrived = asyncio.Event()
        self._space = asyncio.Semaphore(self.max_queue)

    def _take_one(self) -> _Request:
        request = self._pending.popleft()
        self._pending_texts -= len(request.texts)
        assert self._space is not None
        self._space.release()
        return request

    async def _drain(self) -> None:
        try:
            # The check and the exit below are one step (no await between): a request
            # queued later sees _task is None and starts a new drain.
            while self._pending:
                await self._gather()
                batch = self._take_batch()
                if batch:
                    await self._run(batch)
        except asyncio.CancelledError:  # the loop is shutting down: nobody will be served
            while self._pending:
                self._take_one().future.cancel()
            raise
        finally:
            self._task = None

    async def _gather(self) -> None:
        """Wait until max_batch texts are queued or the oldest request has waited
        max_wait (requests that queued while the previous batch ran do not wait again)."""
        assert self._arrived is not None
        deadline = self._pending[0].arrived + self.max_wait
        while self._pending_texts < self.max_batch and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._pending:
            head = self._pending[0]
            if head.future.done():  # its caller was cancelled: drop it
                self._take_one()
                continue
            if batch and size + len(head.texts) > self.max_batch:
                break
            batch.append(self._take_one())
            size += len(head.texts)
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        loop = asyncio.get_running_loop()
        try:
            vectors = await loop.run_in_executor(
                self._executor, self.encoder.encode, texts, self.batch_size
            )
            if vectors.shape != (len(texts), self.dim):
                raise ValueError(f"encoder returned shape {vectors.shape} for {len(texts)} texts")
        except asyncio.CancelledError:
            for request in batch:
                request.future.cancel()
            raise
        except Exception as exc:
            for request in batch:
                self._fail(request, exc)
            return
        self.batches_run += 1
        self.texts_encoded += len(texts)
        self.largest_batch = max(self.largest_batch, len(texts))
        metrics.ENCODER_BATCH_TEXTS.observe(len(texts))
        offset = 0
        for request in batch:
            rows = vectors[offset : offset + len(request.texts)].copy()
            offset += len(request.texts)
            if not request.future.done():
                request.future.set_result(rows)
                self.requests_served += 1

    @staticmethod
    def _fail(request: _Request, error: BaseException) -> None:
        if not request.future.done():
            request.future.set_exception(error)
