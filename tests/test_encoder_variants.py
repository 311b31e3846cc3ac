"""The encoder's variant is chosen from the CPU it runs on and checked there
(matching/encoder_build.py): each variant forced on this machine passes its check or falls back;
no passing int8 variant means fp32 with one warning, never a refusal to start; a cache copied
from another kind of CPU is not trusted; and, under qemu's exact emulation of an AVX2-only x86
CPU (no VNNI), the variant chosen for such CPUs passes where the VNNI one saturates.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matching import encoder_build
from matching.check_texts import DEGENERATE, TEXTS
from matching.encoder import OnnxEncoder, PlainEncoder, load_encoder
from matching.encoder_build import (
    FP32,
    INT8_VARIANTS,
    TORCH,
    VARIANTS,
    Cpu,
    candidates,
    choose,
    cpu,
    export_file,
    model_file,
)
from rapport.settings import PROJECT_ROOT, Settings

MODELS = PROJECT_ROOT / "var" / "models"  # the cache the app and conftest use
AVX2_ONLY = Cpu("x86_64", ("avx2",))
ARM64_DOTPROD = Cpu("aarch64", ("asimddp",))

X86_VNNI_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16
"""
X86_AVX2_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
ARM_CPUINFO = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp i8mm\n"


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return PlainEncoder().encode(TEXTS)


def min_cosine(encoder: Any, reference: np.ndarray) -> float:
    return float((encoder.encode(TEXTS) * reference).sum(axis=1).min())


def test_cpu_features_and_the_order_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_build.platform, "machine", lambda: "x86_64")
    vnni = cpu(X86_VNNI_CPUINFO)
    assert vnni.tag == "x86_64.avx2.avx512f.avx512bw.avx512vnni"
    assert candidates(vnni) == ("int8-s8", "int8-u8", FP32)
    avx2 = cpu(X86_AVX2_CPUINFO)
    assert avx2 == AVX2_ONLY and avx2.tag == "x86_64.avx2"
    assert candidates(avx2) == ("int8-u8", FP32)  # u8 x s8 saturates without VNNI
    monkeypatch.setattr(encoder_build.platform, "machine", lambda: "aarch64")
    arm = cpu(ARM_CPUINFO)
    assert arm.tag == "aarch64.asimddp.i8mm"
    assert candidates(arm) == ("int8-s8", "int8-u8", FP32)
    assert cpu("").tag == "aarch64"
    # every file name records the variant and the CPU it was checked on
    assert model_file(Path("m"), "int8-u8", avx2).name == (
        "all-MiniLM-L6-v2-int8-u8-v2-x86_64.avx2.onnx"
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_forced_passes_its_check_or_falls_back(
    variant: str, reference: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="matching.encoder_build"):
        encoder = load_encoder(MODELS, variant=variant, threads=1)
    if encoder.variant == variant:
        assert min_cosine(encoder, reference) >= 0.98
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        if variant != TORCH:
            assert isinstance(encoder, OnnxEncoder)
            assert encoder.model_file == model_file(MODELS, variant, cpu())
    else:  # refused on this CPU: fp32 ONNX, said once
        assert variant in INT8_VARIANTS and encoder.variant == FP32
        record = json.loads(model_file(MODELS, variant, cpu()).with_suffix(".json").read_text())
        assert record["passed"] is False and record["min_cosine"] < 0.98
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and variant in warnings[0].getMessage()
        assert min_cosine(encoder, reference) >= 0.999


def test_auto_takes_the_first_candidate_that_passes_here(reference: np.ndarray) -> None:
    encoder = load_encoder(MODELS, threads=1)
    this = cpu()
    for variant in candidates(this):
        record = json.loads(model_file(MODELS, variant, this).with_suffix(".json").read_text())
        if record["passed"]:
            assert encoder.variant == variant
            break
    assert min_cosine(encoder, reference) >= 0.98


def test_a_build_says_one_line_and_no_int8_means_fp32_with_one_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A whole build from nothing (export included) on a CPU where no int8 variant keeps the
    threshold (made so by raising it above what int8 reaches): the server's encoder is fp32
    ONNX, announced by exactly one warning; nothing else is printed or logged."""
    monkeypatch.setattr(encoder_build, "CHECK_MIN_COSINE", 0.999)
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG):
        choice = choose(tmp_path, this=AVX2_ONLY)
    out, err = capfd.readouterr()
    ours = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.levelname for r in ours] == ["WARNING"], [r.getMessage() for r in ours]
    message = ours[0].getMessage()
    # Nothing printed but that line (which a log handler of an earlier test's app may write).
    assert out == ""
    assert all(message in line for line in err.splitlines() if line.strip()), err[-2000:]
    assert "fp32" in message and "int8-u8 refused at 0.98" in message and "x86_64.avx2" in message
    assert choice.variant == FP32 and choice.file == model_file(tmp_path, FP32, AVX2_ONLY)
    assert set(choice.refused) == {"int8-u8"}
    assert not model_file(tmp_path, "int8-u8", AVX2_ONLY).exists()  # refused: only its record
    assert not list(tmp_path.glob(".*build-*"))

    # Started again: the records are trusted on this CPU, nothing is built or checked again.
    def no_build(*args: Any) -> None:
        raise AssertionError("rebuilt a variant already checked on this CPU")

    monkeypatch.setattr(encoder_build, "_build_and_check", no_build)
    assert choose(tmp_path, this=AVX2_ONLY) == choice


def test_a_cache_from_another_cpu_is_checked_again(tmp_path: Path) -> None:
    for source in (export_file(MODELS), export_file(MODELS).with_suffix(".npy")):
        if not source.is_file():
            load_encoder(MODELS)  # builds the export
        shutil.copy(source, tmp_path / source.name)
    first = choose(tmp_path, this=ARM64_DOTPROD)
    assert first.variant == "int8-s8" and first.file is not None
    assert first.file.name.endswith("-aarch64.asimddp.onnx")
    # The same folder on an AVX2-only machine: its own check, its own file.
    second = choose(tmp_path, this=AVX2_ONLY)
    assert second.variant == "int8-u8" and second.file is not None
    assert second.file.name.endswith("-x86_64.avx2.onnx")
    assert first.file.is_file() and second.file != first.file


def test_the_setting_forces_a_variant_and_refuses_unknown_ones() -> None:
    assert Settings(_env_file=None, encoder="int8-u8").encoder == "int8-u8"
    with pytest.raises(ValueError, match="RAPPORT_ENCODER must be one of auto, int8-s8"):
        Settings(_env_file=None, encoder="int4")
    with pytest.raises(ValueError, match="unknown encoder variant"):
        choose(MODELS, "int4")


# -- an AVX2-only CPU, emulated: qemu-user's TCG computes AVX2 exactly and has no AVX-512/VNNI

QEMU = shutil.which("qemu-x86_64")
EMULATED_TEXTS = [*TEXTS[30:40], *DEGENERATE]  # the other scripts: int8's hardest texts
_EMULATED = """
import json, sys
import numpy as np
from matching.encoder import OnnxEncoder
texts, reference = json.loads(sys.argv[1]), np.load(sys.argv[2])
result = {}
for variant, path in json.loads(sys.argv[3]).items():
    encoder = OnnxEncoder(path, threads=1)
    together = encoder.encode(texts)
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    result[variant] = float(min((together * reference).sum(1).min(), (alone * reference).sum(1).min()))
print(json.dumps(result))
"""


@pytest.mark.skipif(QEMU is None, reason="qemu-user is not installed (make test installs it)")
def test_on_an_emulated_avx2_only_cpu_the_chosen_variant_passes(tmp_path: Path) -> None:
    """The int8 models are the same bytes on every CPU; only the kernels differ. Run here under
    `qemu-x86_64 -cpu Haswell`, u8 x s8 saturates (as measured on a real AVX2-only EPYC),
    and the first candidate for such CPUs, u8 x u8, does not."""
    load_encoder(MODELS, variant="int8-s8")
    load_encoder(MODELS, variant="int8-u8")
    this = cpu()
    paths = {v: str(model_file(MODELS, v, this)) for v in ("int8-s8", "int8-u8")}
    if not all(Path(p).is_file() for p in paths.values()):
        pytest.skip("an int8 variant was refused on this (host) CPU")
    np.save(tmp_path / "reference.npy", PlainEncoder().encode(EMULATED_TEXTS))
    assert QEMU is not None
    arguments = [json.dumps(EMULATED_TEXTS), str(tmp_path / "reference.npy"), json.dumps(paths)]
    done = subprocess.run(
        [QEMU, "-cpu", "Haswell", sys.executable, "-c", _EMULATED, *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cosine = json.loads(done.stdout.strip().splitlines()[-1])
    assert candidates(AVX2_ONLY)[0] == "int8-u8"
    assert cosine["int8-u8"] >= 0.98, cosine
    assert cosine["int8-s8"] < 0.98, cosine  # the emulation is real: VNNI's variant saturates
