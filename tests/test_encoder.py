"""The offline encoders (matching/encoder.py) and the async batching front (matching/batching.py).

The ONNX model is built and checked once into var/models (gitignored), the same folder the app
uses and conftest's `encoder_model` fixture loads: a run after the first reuses it instead of
spending ~20 s exporting and quantising again. Bumping BUILD_VERSION (matching/encoder_build.py)
gives new file names, so a stale build is never picked up. The variants and their choice per
CPU are tested in tests/test_encoder_variants.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from matching.batching import BatchingEncoder, EncoderClosedError
from matching.check_texts import DEGENERATE, TEXTS
from matching.encoder import (
    DIM,
    EMBEDDING_SPACE,
    MODEL_NAME,
    OnnxEncoder,
    PlainEncoder,
    length_batches,
    load_encoder,
)
from matching.encoder_build import FP32, INT8_VARIANTS


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.fixture(scope="module")
def onnx(encoder_model: Any) -> OnnxEncoder:
    assert isinstance(encoder_model, OnnxEncoder)
    return encoder_model


@pytest.fixture(scope="module")
def plain() -> PlainEncoder:
    return PlainEncoder()


@pytest.fixture(scope="module")
def reference(plain: PlainEncoder) -> np.ndarray:
    return plain.encode(TEXTS)


class FakeEncoder:
    """A fast blocking encoder: a deterministic unit vector per text; records each call and
    can be told to fail or to block until released."""

    name = "fake/v1"
    dim = DIM

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail: Exception | None = None
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls.append(list(texts))
        self.started.set()
        assert self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return np.stack([self.vector(t) for t in texts]).astype(np.float32)

    @staticmethod
    def vector(text: str) -> np.ndarray:
        rng = np.random.default_rng(abs(hash(text)) % 2**32)
        v = rng.standard_normal(DIM)
        return (v / np.linalg.norm(v)).astype(np.float32)


# -- the encoders


def test_names_identify_the_vector_space_and_variant(
    onnx: OnnxEncoder, plain: PlainEncoder
) -> None:
    """Every variant writes vectors in one space (stored as `name`), so processes on different
    CPUs share a database without re-embedding each other's rows."""
    assert onnx.name == plain.name == EMBEDDING_SPACE == f"{MODEL_NAME}/mean-v2"
    assert onnx.variant in (*INT8_VARIANTS, FP32)
    assert plain.variant == "torch"
    assert onnx.dim == plain.dim == DIM == 384
    assert onnx.max_length == 256


def test_int8_vectors_match_fp32(onnx: OnnxEncoder, reference: np.ndarray) -> None:
    vectors = onnx.encode(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)
    cosine = cosine_rows(vectors, reference)
    worst = int(cosine.argmin())
    assert cosine.min() >= 0.98, f"{cosine.min():.4f} for {TEXTS[worst]!r}"
    assert cosine.mean() >= 0.99


def test_batch_size_and_order_barely_matter(onnx: OnnxEncoder, reference: np.ndarray) -> None:
    """Int8 activations are quantised per batch, so a vector depends a little on its batch
    companions; it stays close to the fp32 one either way."""
    alone = np.concatenate([onnx.encode([t]) for t in TEXTS[:12]])
    reverse = onnx.encode(TEXTS[::-1], batch_size=7)[::-1]
    assert cosine_rows(alone, reference[:12]).min() >= 0.98
    assert cosine_rows(reverse, reference).min() >= 0.98


def test_truncates_at_256_word_pieces(onnx: OnnxEncoder, plain: PlainEncoder) -> None:
    long = max(TEXTS, key=len)
    assert len(long.split()) > 256
    longer = long + " And then a final sentence about something else entirely, like cheese."
    vectors = onnx.encode([long, longer])
    assert float(vectors[0] @ vectors[1]) > 0.9999
    assert float(vectors[0] @ plain.encode([longer])[0]) >= 0.98


def test_empty_input_and_empty_text(onnx: OnnxEncoder, plain: PlainEncoder) -> None:
    for encoder in (onnx, plain):
        empty = encoder.encode([])
        assert empty.shape == (0, DIM)
        assert empty.dtype == np.float32
    # An empty string is encoded as the model does ([CLS] [SEP]); callers skip them.
    assert float(onnx.encode([""])[0] @ plain.encode([""])[0]) >= 0.98
    with pytest.raises(TypeError):
        onnx.encode("not a list")


def test_degenerate_texts_stay_close(onnx: OnnxEncoder, plain: PlainEncoder) -> None:
    cosine = cosine_rows(onnx.encode(DEGENERATE), plain.encode(DEGENERATE))
    assert cosine.min() >= 0.98, dict(zip(DEGENERATE, cosine.round(4), strict=True))


def test_length_batches_cap_texts_tokens_and_padding() -> None:
    lengths = [10, 200, 12, 11, 198, 3, 3, 3, 3, 3]
    assert list(length_batches(lengths, batch_size=3)) == [[1, 4], [2, 3, 0], [5, 6, 7], [8, 9]]
    assert list(length_batches([256] * 5, batch_size=32, max_tokens=512)) == [[0, 1], [2, 3], [4]]
    assert list(length_batches([], batch_size=32)) == []


def test_similar_texts_score_higher(onnx: OnnxEncoder) -> None:
    anchor, similar, unrelated = onnx.encode(
        [
            "Looking for someone to go trail running with on weekend mornings.",
            "I want a jogging buddy for Saturday and Sunday morning runs in the hills.",
            "Tax accountant specialising in corporate VAT compliance.",
        ]
    )
    assert float(anchor @ similar) > float(anchor @ unrelated) + 0.2
    spanish, english, other = onnx.encode(
        ["Busco amigos para bailar salsa.", "Looking for friends to go salsa dancing.", "🙂"]
    )
    assert float(spanish @ english) > float(spanish @ other)


def test_load_encoder_reuses_the_cached_build(onnx: OnnxEncoder) -> None:
    started = time.perf_counter()
    again = load_encoder(onnx.model_file.parent, threads=1)
    assert time.perf_counter() - started < 10  # loading, not building
    assert isinstance(again, OnnxEncoder)
    assert again.model_file == onnx.model_file
    assert not list(onnx.model_file.parent.glob(f".{onnx.model_file.name}.build-*"))
    assert cosine_rows(again.encode(TEXTS[:5]), onnx.encode(TEXTS[:5])).min() > 0.9999


# -- the batching front, on the real model


async def test_concurrent_calls_are_batched_and_answered_in_order(onnx: OnnxEncoder) -> None:
    async with BatchingEncoder(onnx) as batching:
        assert (batching.name, batching.dim) == (onnx.name, DIM)
        texts = TEXTS[:20]
        results = await asyncio.gather(*(batching.encode([t]) for t in texts))
        assert batching.texts_encoded == 20
        assert batching.batches_run < 20
        assert batching.batches_run <= 3
        assert batching.requests_served == 20
    got = np.concatenate(results)
    assert got.shape == (20, DIM)
    direct = onnx.encode(texts)
    similarity = got @ direct.T
    # each caller got its own text's vector, not a neighbour's
    assert (similarity.argmax(axis=1) == np.arange(20)).all()
    assert np.diag(similarity).min() >= 0.98


async def test_event_loop_stays_responsive_while_encoding(onnx: OnnxEncoder) -> None:
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    long = [t for t in TEXTS if len(t) > 300]
    texts = [f"{t} ({i})" for i, t in enumerate(long * 12)]
    async with BatchingEncoder(onnx) as batching:
        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        vectors = await batching.encode(texts)
        took = time.perf_counter() - started
        stop.set()
        await task
    assert vectors.shape == (len(texts), DIM)
    during = [t for t in ticks if started <= t <= started + took]
    gaps = np.diff(ticks)
    assert took > 0.3  # long enough for the check to mean something
    assert len(during) >= 5, (len(during), took)
    assert gaps.max() < max(0.15, took / 3), (gaps.max(), took)


async def test_empty_call_and_result_shapes(onnx: OnnxEncoder) -> None:
    async with BatchingEncoder(onnx) as batching:
        assert (await batching.encode([])).shape == (0, DIM)
        assert batching.batches_run == 0
        one, three = await asyncio.gather(batching.encode(["a"]), batching.encode(TEXTS[:3]))
        assert one.shape == (1, DIM) and three.shape == (3, DIM)


# -- the batching front's mechanics, on a fake encoder


async def test_encoder_exception_reaches_every_caller_of_that_batch() -> None:
    fake = FakeEncoder()
    fake.fail = ValueError("model exploded")
    async with BatchingEncoder(fake) as batching:
        results = await asyncio.gather(
            *(batching.encode([f"text {i}"]) for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, ValueError) and "exploded" in str(r) for r in results)
        assert batching.batches_run == 0
        fake.fail = None  # the next batch is unaffected
        vector = await batching.encode(["fine"])
        np.testing.assert_allclose(vector[0], FakeEncoder.vector("fine"))


async def test_requests_are_not_split_and_batches_are_capped() -> None:
    fake = FakeEncoder()
    async with BatchingEncoder(fake, max_batch=8) as batching:
        sizes = [3, 3, 3, 20, 1, 5]
        requests = [[f"r{r}-{i}" for i in range(n)] for r, n in enumerate(sizes)]
        results = await asyncio.gather(*(batching.encode(texts) for texts in requests))
    for texts, vectors in zip(requests, results, strict=True):
        expected = np.stack([FakeEncoder.vector(t) for t in texts])
        np.testing.assert_allclose(vectors, expected)
    assert [len(call) for call in fake.calls] == [6, 3, 20, 6]
    assert batching.largest_batch == 20


async def test_callers_queued_behind_a_running_batch_share_the_next_one() -> None:
    fake = FakeEncoder()
    fake.release.clear()
    async with BatchingEncoder(fake, max_queue=4) as batching:
        first = asyncio.create_task(batching.encode(["first"]))
        await asyncio.to_thread(fake.started.wait, 5)  # "first" is being encoded
        later = [asyncio.create_task(batching.encode([f"later {i}"])) for i in range(6)]
        await asyncio.sleep(0.05)
        assert batching.pending == 4  # bounded: two callers wait for room
        fake.release.set()
        await asyncio.gather(first, *later)
    assert [len(call) for call in fake.calls] == [1, 4, 2]


async def test_cancelled_caller_does_not_disturb_others() -> None:
    fake = FakeEncoder()
    fake.release.clear()
    async with BatchingEncoder(fake) as batching:
        busy = asyncio.create_task(batching.encode(["busy"]))
        await asyncio.to_thread(fake.started.wait, 5)
        gone = asyncio.create_task(batching.encode(["gone"]))
        kept = asyncio.create_task(batching.encode(["kept"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        fake.release.set()
        await busy
        np.testing.assert_allclose((await kept)[0], FakeEncoder.vector("kept"))
        with pytest.raises(asyncio.CancelledError):
            await gone
    assert fake.calls == [["busy"], ["kept"]]


async def test_aclose_finishes_the_batch_in_flight_and_fails_the_queue() -> None:
    fake = FakeEncoder()
    fake.release.clear()
    batching = BatchingEncoder(fake)
    running = asyncio.create_task(batching.encode(["running"]))
    await asyncio.to_thread(fake.started.wait, 5)
    queued = asyncio.create_task(batching.encode(["queued"]))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(batching.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()  # waits for the batch in flight
    fake.release.set()
    await closing
    assert (await running).shape == (1, DIM)
    with pytest.raises(EncoderClosedError):
        await queued
    with pytest.raises(EncoderClosedError):
        await batching.encode(["after"])
    assert batching.closed
    await batching.aclose()  # idempotent
