"""Embedding benchmark: Rapport's int8 ONNX encoder, directly and through the async
BatchingEncoder, against plain sentence-transformers (PyTorch fp32) on the same texts in the
same run; plus how close the int8 vectors are to the fp32 ones.

Usage (from the repository root):

    .venv/bin/python bench/embeddings.py                  # 1,000 bios, batch 32, 2 rounds
    .venv/bin/python bench/embeddings.py --texts 300 --rounds 1
    .venv/bin/python bench/embeddings.py --cache-dir /tmp/models   # ONNX model built there

What it does (about 1 minute on 2 cores, plus ~20 s once if the ONNX model must be built):

1. generates N synthetic, realistic bios and goals of varied length (deterministic: --seed);
2. prints the CPU's relevant features, loads the ONNX variant the server would choose on
   this CPU (or --variant; built and checked into var/models/... if missing), then the
   plain SentenceTransformer, printing load time and peak RSS after each phase;
3. per round, encodes all texts with: plain `SentenceTransformer.encode` (batch 32),
   `OnnxEncoder.encode` (batch 32), and `BatchingEncoder` fed by concurrent requests of two
   texts each (goals + bio, as the API embeds a profile). The phases alternate so machine
   noise hits them alike; the best round of each is reported;
4. prints texts/s, the speed-up against plain, mean/min cosine of int8 against fp32, and
   whether the target is met: speed-up >= 2.0x and min cosine >= 0.98.

The exit code is 0 whether or not the target is met; non-zero only if something failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matching.batching import BatchingEncoder  # noqa: E402
from matching.check_texts import CHECK_TEXTS  # noqa: E402
from matching.encoder import OnnxEncoder, PlainEncoder  # noqa: E402
from matching.encoder_build import AUTO, TORCH, VARIANTS, choose, cpu  # noqa: E402

TARGET_SPEEDUP = 2.0
TARGET_MIN_COSINE = 0.98

JOBS = [
    "software engineer",
    "nurse",
    "primary-school teacher",
    "data analyst",
    "chef",
    "architect",
    "physiotherapist",
    "product designer",
    "lawyer",
    "electrician",
    "PhD student in chemistry",
    "journalist",
    "accountant",
    "firefighter",
    "barista and part-time illustrator",
    "marine biologist",
    "sales manager",
    "retired pilot",
]
CITIES = ["Berlin", "Lisbon", "Toronto", "Leeds", "Lyon", "Melbourne", "Austin", "Kraków", "Osaka"]
HOBBIES = [
    "hiking in the mountains",
    "cooking Italian food for friends",
    "reading science fiction",
    "running half marathons",
    "bouldering",
    "playing jazz piano",
    "film photography",
    "board games",
    "gardening",
    "learning Japanese",
    "open-water swimming",
    "pottery",
    "salsa dancing",
    "cycling to the coast",
    "birdwatching",
    "baking sourdough",
    "indie video games",
    "volunteering at an animal shelter",
]
GOALS = [
    "Looking for friends to explore the city with.",
    "I'd love to find a mentor who has moved into management.",
    "Hoping to meet someone kind, curious and a bit silly.",
    "Seeking a running partner for early mornings.",
    "Want to practise my Spanish with a native speaker.",
    "Looking for a co-founder with a sales background.",
    "Happy to mentor people starting out in my field.",
    "Searching for a long-term relationship.",
    "New in town and looking for a climbing buddy.",
    "Looking for people to start a book club with.",
]
EXTRAS = [
    "I have a very old and very lazy cat.",
    "Weekends are for markets, long walks and too much coffee.",
    "I moved here two years ago for work and stayed for the food.",
    "Currently training for my first triathlon, wish me luck.",
    "I'm an introvert at first, but I talk a lot once I know you.",
    "Ask me about my terrible puns.",
    "Family is important to me and I visit my parents most Sundays.",
    "I spent a year travelling around South America with a backpack.",
    "I'm trying to read fifty books this year and I'm behind.",
    "Honesty, humour and good food are what I value most.",
]
FOREIGN = [
    "Me encanta viajar y conocer gente nueva.",
    "J'adore la cuisine et les longues balades.",
    "Ich wandere gern und trinke guten Kaffee.",
    "Adoro música ao vivo e praia.",
    "週末はカフェ巡りが好きです。",
    "Люблю книги и прогулки.",
]
EMOJI = ["🙂", "🌱", "☕", "🏔️", "🎹", "📷", "🐶", "🚴", "✨", "🍕"]


def synthetic_texts(n: int, seed: int) -> list[str]:
    """N bios and goals, from one line to a long paragraph; deterministic for a seed."""
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(n):
        kind = rng.random()
        if i % 2 == 1:  # goals: short, sometimes two sentences
            parts = rng.sample(GOALS, k=rng.choice([1, 1, 2]))
        elif kind < 0.15:  # a terse bio
            parts = [
                f"{rng.choice(JOBS).capitalize()}. {rng.choice(HOBBIES).capitalize()}.",
            ]
        else:
            parts = [f"I'm a {rng.choice(JOBS)} living in {rng.choice(CITIES)}."]
            hobbies = rng.sample(HOBBIES, k=rng.randint(1, 4))
            parts.append(
                f"I love {', '.join(hobbies[:-1])}{' and ' if len(hobbies) > 1 else ''}"
                f"{hobbies[-1]}."
            )
            parts += rng.sample(EXTRAS, k=rng.choice([0, 1, 2, 3, 5, 8]))
            if rng.random() < 0.15:
                parts.append(rng.choice(FOREIGN))
        text = " ".join(parts)
        if rng.random() < 0.25:
            text += " " + "".join(rng.sample(EMOJI, k=rng.randint(1, 3)))
        texts.append(text)
    return texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phase(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<34} {seconds:7.2f} s   peak RSS {peak_rss_mb():6.0f} MB  {extra}")


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


async def through_batching(onnx: OnnxEncoder, texts: list[str]) -> tuple[np.ndarray, int]:
    """All texts as concurrent requests of two (goals + bio); returns vectors in order."""
    async with BatchingEncoder(onnx) as batching:
        pairs = [texts[i : i + 2] for i in range(0, len(texts), 2)]
        results = await asyncio.gather(*(batching.encode(pair) for pair in pairs))
        return np.concatenate(results), batching.batches_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1000, help="how many texts (default 1000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per encoder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "models")
    parser.add_argument(
        "--variant",
        choices=[AUTO, *(v for v in VARIANTS if v != TORCH)],
        default=AUTO,
        help="the ONNX variant to measure (default: the one the server would choose here)",
    )
    args = parser.parse_args()

    texts = synthetic_texts(args.texts, args.seed)
    words = [len(t.split()) for t in texts]
    print(
        f"Embeddings benchmark: {len(texts)} synthetic bios/goals "
        f"({min(words)}-{max(words)} words, mean {np.mean(words):.0f}), batch {args.batch_size}"
    )
    print(
        f"  python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"(usable {len(os.sched_getaffinity(0))}), {platform.machine()}"
    )

    this = cpu()
    print(f"  CPU {this.tag} ({'VNNI/dot products' if this.int8_dot_products else 'no VNNI'})")

    print("Load")
    started = time.perf_counter()
    choice = choose(args.cache_dir, args.variant)
    if choice.file is None:
        print(f"  no ONNX variant passes its check here ({choice.refused}): nothing to measure")
        return 1
    onnx = OnnxEncoder(choice.file, variant=choice.variant)
    refused = "".join(f", {v} refused at {c:.4f}" for v, c in choice.refused.items())
    phase(
        f"ONNX {choice.variant} (chosen, loaded)",
        time.perf_counter() - started,
        f"check min cosine {choice.min_cosine:.4f}{refused}, {onnx.threads} threads",
    )
    started = time.perf_counter()
    plain = PlainEncoder()
    import torch

    phase(
        "sentence-transformers fp32",
        time.perf_counter() - started,
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
    )

    warm = texts[: args.batch_size]
    onnx.encode(warm, args.batch_size)
    plain.encode(warm, args.batch_size)

    best: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    batches = 0
    for round_ in range(1, args.rounds + 1):
        print(f"Round {round_}")
        seconds, vectors["plain"] = timed(lambda: plain.encode(texts, args.batch_size))
        phase("plain SentenceTransformer.encode", seconds, f"{len(texts) / seconds:6.1f} texts/s")
        best["plain"] = min(best.get("plain", float("inf")), seconds)

        seconds, vectors["onnx"] = timed(lambda: onnx.encode(texts, args.batch_size))
        phase("OnnxEncoder.encode", seconds, f"{len(texts) / seconds:6.1f} texts/s")
        best["onnx"] = min(best.get("onnx", float("inf")), seconds)

        started = time.perf_counter()
        vectors["batching"], batches = asyncio.run(through_batching(onnx, texts))
        seconds = time.perf_counter() - started
        phase(
            "BatchingEncoder (pairs, concurrent)",
            seconds,
            f"{len(texts) / seconds:6.1f} texts/s in {batches} batches",
        )
        best["batching"] = min(best.get("batching", float("inf")), seconds)

    reference = vectors["plain"]
    print(f"Results (best of {args.rounds} round(s))")
    rate = {name: len(texts) / s for name, s in best.items()}
    for name, label in (
        ("plain", "plain SentenceTransformer (fp32)"),
        ("onnx", f"OnnxEncoder ({onnx.variant})"),
        ("batching", "BatchingEncoder over OnnxEncoder"),
    ):
        line = f"  {label:<34} {rate[name]:7.1f} texts/s   x{rate[name] / rate['plain']:.2f}"
        if name != "plain":
            cosine = (vectors[name] * reference).sum(axis=1)
            line += f"   cosine vs fp32 mean {cosine.mean():.4f} min {cosine.min():.4f}"
        print(line)
    check = (onnx.encode(list(CHECK_TEXTS)) * plain.encode(list(CHECK_TEXTS))).sum(axis=1)
    print(
        f"  {len(CHECK_TEXTS)} multilingual check texts: cosine vs fp32 mean {check.mean():.4f} "
        f"min {check.min():.4f}"
    )
    norms = np.linalg.norm(vectors["onnx"], axis=1)
    print(f"  row norms {norms.min():.5f}..{norms.max():.5f}; peak RSS {peak_rss_mb():.0f} MB")

    cosine = min(float((vectors["onnx"] * reference).sum(axis=1).min()), float(check.min()))
    speedup = rate["onnx"] / rate["plain"]
    met = speedup >= TARGET_SPEEDUP and cosine >= TARGET_MIN_COSINE
    print(
        f"Target on {this.tag}, variant {onnx.variant}: speed-up >= {TARGET_SPEEDUP:.1f}x and "
        f"min cosine >= {TARGET_MIN_COSINE}: {'MET' if met else 'NOT MET'} "
        f"(x{speedup:.2f}, min cosine {cosine:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
