"""Min cosine of int8 encoder variants with the fp32 reference on CPUs this machine lacks,
emulated by qemu-user: ONNX Runtime's int8 kernels differ by CPU (x86 AVX2 without VNNI
saturates U8S8 sums; ARM has NEON, dot-product, i8mm and SME kernels).

Usage (from the repository root; the folder holds <variant>.onnx, texts.json = a list of
strings, and ref.npy = their fp32 vectors, made with PlainEncoder if missing):

    .venv/bin/python bench/encoder_emulated.py /tmp/enc/models s8-pc u8-pc s8-pc-rr
    .venv/bin/python bench/encoder_emulated.py /tmp/enc/models --cpus haswell,cortex-a72

It prints a table CPU x variant -> min cosine, texts encoded as one batch / each alone, by
`matching.encoder.OnnxEncoder` on one thread: what the server would compute on that CPU.
TCG is ~100x slower than native: 1-3 minutes per variant and CPU for 54 texts.

Needs qemu-user (7.2 tested). For aarch64 it sets up, on first use, an arm64 Python 3.11
user space in var/arm64/ (no chroot or binfmt_misc; ~10 MB of .debs, ~180 MB of wheels;
under a minute from a near mirror): `dpkg --add-architecture arm64` + `apt-get update` if
apt lacks arm64; `apt-get download` of the Debian packages in DEBS, `dpkg -x` into
var/arm64/root; `pip install --target var/arm64/site --platform manylinux_2_28_aarch64 ...`
of the onnxruntime, numpy and tokenizers versions installed here (redone when they change).
qemu-aarch64 then runs that python3.11 with `-L var/arm64/root`.

Two emulation traps, handled here:
- ONNX Runtime's cpuinfo reads /proc/cpuinfo, which qemu-user passes through from the x86
  host, and crashes on it. qemu looks paths up in the -L folder first, so each aarch64 run
  gets a var/arm64/root/proc/cpuinfo as Linux would print it for the emulated CPU.
- On SME CPUs ONNX Runtime sends MatMuls with symmetric int8 weights to KleidiAI SME
  kernels, and qemu 7.2 computes their SMOPA instruction wrongly (qemu issue 2083). Runs on
  SME CPUs first check SMOPA on a 4x4 example, and the table marks the CPU if it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARM = ROOT / "var" / "arm64"
DEBS = (  # split on use
    "python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1 zlib1g "
    "libssl3 libbz2-1.0 libffi8 liblzma5 libuuid1 libstdc++6 libgcc-s1"
)
WHEELS = ("onnxruntime", "numpy", "tokenizers")
# Linux's names of the arm64 HWCAP and HWCAP2 bits, in bit order (arch/arm64/kernel/cpuinfo.c)
HWCAP_NAMES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt "
    "fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb "
    "paca pacg"
)
HWCAP2_NAMES = (
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm "
    "svef64mm svebf16 i8mm bf16 dgh rng bti mte ecv afp rpres mte3 sme"
)
# void f(int32_t out[16]): smstart; z0.b = 0..; z1.b = 16..; zero za; smopa za0.s with
# both; the first 4x4 of za0 to out; smstop (d8-d15 saved: smstart zeroes them).
SMOPA_PROBE = (
    "e827bc6dea2f016dec37026dee3f036d7f4703d5e0e31825004021040130600401c22025ff0008c0"
    "000081a00c008052000082c0210082c0420082c0630082c081e0982500e440e50040009101e440e5"
    "0040009102e440e50040009103e440e57f4603d5ee3f436dec37426dea2f416de827c46cc0035fd6"
)


@dataclass(frozen=True)
class Cpu:
    key: str
    arch: str  # "native", "x86_64" or "aarch64"
    qemu_cpu: str
    what: str
    midr: int = 0


CPUS = {
    c.key: c
    for c in (
        Cpu("native", "native", "", "this machine, no emulation"),
        Cpu("haswell", "x86_64", "Haswell", "x86 AVX2, no VNNI"),
        Cpu("max", "aarch64", "max", "Armv9: SVE2, SME, i8mm, dotprod", 0x000F0510),
        Cpu("max-nosme", "aarch64", "max,sme=off", "Armv9 without SME (~Neoverse V)", 0x000F0510),
        Cpu("neoverse-n1", "aarch64", "neoverse-n1", "Armv8.2 dotprod (Graviton2)", 0x414FD0C1),
        Cpu("cortex-a72", "aarch64", "cortex-a72", "Armv8.0, no dotprod (Graviton1)", 0x410FD083),
    )
}


def smopa_ok() -> bool | None:
    """Whether SMOPA computes a 4x4 int8 outer product right, None without SME. For qemu
    only: real hardware would need an instruction cache flush before running fresh code."""
    import ctypes
    import mmap

    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    if not getauxval(26) & 1 << 23:  # AT_HWCAP2 & HWCAP2_SME
        return None
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(bytes.fromhex(SMOPA_PROBE))
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    probe = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(address)
    out = (ctypes.c_int32 * 16)()
    probe(ctypes.addressof(out))
    a = np.arange(16).reshape(4, 4)
    return bool((np.array(out).reshape(4, 4) == a @ (a + 16).T).all())


def worker(models: Path, names: list[str], model_dir: Path, probe: bool) -> None:
    """In the (emulated) CPU: one JSON line per variant, min cosine with ref.npy."""
    sys.path.insert(0, str(ROOT))
    from matching.encoder import OnnxEncoder

    if probe:
        print("RESULT", json.dumps({"smopa_ok": smopa_ok()}), flush=True)
    texts = json.loads((models / "texts.json").read_text())
    ref = np.load(models / "ref.npy")
    for name in names:
        started = time.perf_counter()
        encoder = OnnxEncoder(models / f"{name}.onnx", model_dir=model_dir, threads=1)
        batch = encoder.encode(texts)
        alone = np.concatenate([encoder.encode([text]) for text in texts])
        result = {
            "variant": name,
            "batch": float((batch * ref).sum(axis=1).min()),
            "alone": float((alone * ref).sum(axis=1).min()),
            "seconds": time.perf_counter() - started,
        }
        print("RESULT", json.dumps(result), flush=True)


class Failed(Exception):
    """A command failed: its exit status and the end of its stderr."""


def run(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env=env)
    if done.returncode != 0:
        raise Failed(f"exit {done.returncode}: {' '.join(command)}\n{done.stderr[-2000:]}")
    return done.stdout


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One user of var/arm64 at a time (setup, and /proc/cpuinfo which each run rewrites)."""
    ARM.mkdir(parents=True, exist_ok=True)
    with (ARM / ".lock").open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield


def setup_arm64() -> None:
    """The arm64 user space in var/arm64 (see the module docstring), unless already there."""
    versions = {name: metadata.version(name) for name in WHEELS}
    ready = ARM / "ready.json"
    if ready.is_file() and json.loads(ready.read_text()) == versions:
        return
    for tool in ("qemu-aarch64", "apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise Failed(f"{tool} not found: the aarch64 runs need qemu-user and apt")
    started = time.perf_counter()
    print(f"setting up the arm64 user space in {ARM} (once) ...", file=sys.stderr)
    if "arm64" not in run(["dpkg", "--print-foreign-architectures"]).split():
        run(["dpkg", "--add-architecture", "arm64"])
        run(["apt-get", "update"])
    for folder in ("debs", "root", "site"):
        shutil.rmtree(ARM / folder, ignore_errors=True)
        (ARM / folder).mkdir(parents=True)
    run(["apt-get", "download", *(f"{p}:arm64" for p in DEBS.split())], cwd=ARM / "debs")
    for deb in sorted((ARM / "debs").glob("*.deb")):
        run(["dpkg", "-x", str(deb), str(ARM / "root")])
    # Empty, so that qemu does not fall back to the host's (x86) packages in these folders.
    for folder in ("usr/lib/python3/dist-packages", "usr/local/lib/python3.11/dist-packages"):
        (ARM / "root" / folder).mkdir(parents=True, exist_ok=True)
    (ARM / "root" / "proc").mkdir(exist_ok=True)
    platforms = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64")
    run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(ARM / "site")]
        + [arg for p in platforms for arg in ("--platform", p)]
        + ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
        + [f"{name}=={version}" for name, version in versions.items()]
    )
    ready.write_text(json.dumps(versions))
    print(f"arm64 user space ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def arm64_python(cpu: Cpu) -> list[str]:
    root = ARM / "root"
    return ["qemu-aarch64", "-L", str(root), "-cpu", cpu.qemu_cpu, str(root / "usr/bin/python3.11")]


def write_cpuinfo(cpu: Cpu) -> None:
    """/proc/cpuinfo as arm64 Linux prints it for `cpu` (two processors, as the host has)."""
    code = "import ctypes; g = ctypes.CDLL(None).getauxval; g.restype = ctypes.c_ulong; "
    code += "print(g(16), g(26))"  # AT_HWCAP, AT_HWCAP2
    hwcap, hwcap2 = map(int, run([*arm64_python(cpu), "-c", code]).split())
    features = [n for i, n in enumerate(HWCAP_NAMES.split()) if hwcap >> i & 1]
    features += [n for i, n in enumerate(HWCAP2_NAMES.split()) if hwcap2 >> i & 1]
    m = cpu.midr
    block = (
        f"BogoMIPS\t: 50.00\nFeatures\t: {' '.join(features)}\n"
        f"CPU implementer\t: {m >> 24:#04x}\nCPU architecture: 8\n"
        f"CPU variant\t: {m >> 20 & 0xF:#x}\nCPU part\t: {m >> 4 & 0xFFF:#05x}\n"
        f"CPU revision\t: {m & 0xF}\n"
    )
    text = "".join(f"processor\t: {i}\n{block}\n" for i in range(2))
    (ARM / "root" / "proc" / "cpuinfo").write_text(text)


def measure(cpu: Cpu, models: Path, names: list[str], model_dir: Path) -> list[dict[str, object]]:
    args = [__file__, "--worker", str(models), *names, "--model-dir", str(model_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONNOUSERSITE": "1"}
    if cpu.arch == "aarch64":
        env["PYTHONPATH"] = f"{ARM / 'site'}:{ROOT}"
        with locked():
            setup_arm64()
            write_cpuinfo(cpu)
            output = run([*arm64_python(cpu), *args, "--smopa-probe"], env=env)
    else:
        qemu = ["qemu-x86_64", "-cpu", cpu.qemu_cpu] if cpu.arch == "x86_64" else []
        output = run([*qemu, sys.executable, *args], env=env)
    return [json.loads(line[7:]) for line in output.splitlines() if line.startswith("RESULT ")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, help="folder of <variant>.onnx, texts.json, ref.npy")
    parser.add_argument("variants", nargs="*", help="file names without .onnx (default: all)")
    parser.add_argument("--cpus", default=",".join(CPUS), help=f"comma-separated of {list(CPUS)}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smopa-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    models: Path = args.models.resolve()
    names = args.variants or sorted(p.stem for p in models.glob("*.onnx"))
    if args.worker:
        worker(models, names, args.model_dir, args.smopa_probe)
        return
    missing = [n for n in names if not (models / f"{n}.onnx").is_file()]
    unknown = [c for c in args.cpus.split(",") if c not in CPUS]
    if missing or unknown or not (models / "texts.json").is_file():
        parser.error(f"missing in {models}: {missing} or texts.json; unknown CPUs: {unknown}")
    sys.path.insert(0, str(ROOT))
    from matching.encoder import model_path

    texts = json.loads((models / "texts.json").read_text())
    if not (models / "ref.npy").is_file():  # the fp32 PyTorch vectors of the texts
        from matching.encoder import PlainEncoder

        np.save(models / "ref.npy", PlainEncoder().encode(texts))
    rows = []
    for key in args.cpus.split(","):
        cpu = CPUS[key]
        started = time.perf_counter()
        try:
            results = measure(cpu, models, names, model_path())
        except Failed as error:  # the other CPUs still run
            print(f"{key} failed: {error}", file=sys.stderr)
            results = []
        seconds = time.perf_counter() - started
        by_name = {r["variant"]: r for r in results if "variant" in r}
        smopa = next((r["smopa_ok"] for r in results if "smopa_ok" in r), None)
        rows.append((cpu, by_name, seconds, smopa))
        each = ", ".join(
            f"{r['variant']} {r['batch']:.4f}/{r['alone']:.4f} in {r['seconds']:.0f} s"
            for r in by_name.values()
        )
        print(f"{key}: {seconds:.0f} s ({each})", file=sys.stderr, flush=True)
    table(rows, names, len(texts))


def table(rows: list[tuple[Cpu, dict, float, object]], names: list[str], n: int) -> None:
    width = max(len(f"{c.key} ({c.what})") for c, *_ in rows) + 4
    print(f"{'CPU':<{width}}" + "".join(f"{name:>15}" for name in names) + f"{'time':>8}")
    for cpu, by_name, seconds, smopa in rows:
        label = f"{cpu.key} ({cpu.what})" + (" !" if smopa is False else "")
        cells = "".join(
            f"{r['batch']:>8.4f}/{r['alone']:.4f}" if (r := by_name.get(name)) else f"{'-':>15}"
            for name in names
        )
        print(f"{label:<{width}}{cells}{seconds:>7.0f}s")
    print(f"\nmin cosine with the fp32 reference over {n} texts: one batch / each alone")
    if any(smopa is False for *_, smopa in rows):
        print(
            "! this qemu computes SME SMOPA wrongly (qemu issue 2083): figures of variants "
            "with signed int8 weights are emulator artefacts there; see max-nosme"
        )


if __name__ == "__main__":
    main()
