"""Semantic-hit quality on the labelled pairs in ../shared/data and bench/data, under both protocols of
../shared/data/README.md (pairwise and retrieval), in one run: the static-cosine baseline (0.90, no guard), the
previous default (floor 0.66 + rules + LightGBM verifier) and the default guard (floor + rules + pair model).

Each file is stored and searched once per protocol through the real cache core (Redis, Qdrant Edge, MiniLM); each
lookup's nearest candidate is judged once by the rules, the verifier and the pair model; every setting is then
scored as the cache decides (`llmcache.quality.evaluation.score_settings`), which is how `llmcache tune pairs` works
too. Writes the tables into docs/quality.md and the pairwise curves into docs/quality-*.png.

Run: python bench/quality.py [--save tables.pkl | --load tables.pkl] [--quick] [--sample N]
(--save keeps the judged tables, --load re-scores them without searching or scoring again; --quick skips Quora;
--sample N measures a seeded sample of N pairs of any larger file).

Or: python bench/quality.py --retrieval-sizes 1000,10000,100000 [--lookups N] [--vectors-cache DIR]: the retrieval
protocol on Quora as the cache fills, the same seeded sample of validation pairs looked up at every size, the cache
filled with the sample's own `a`, the other validation `a` and then training questions (never a looked-up `b`);
the distractors' vectors are kept in DIR (a temporary folder by default) so that a rerun does not embed them again.
Writes its own section at the end of docs/quality.md."""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED_DATA, machine_line, quiet_logging
from llmcache.quality.evaluation import (
    GuardMode,
    Judged,
    Pair,
    PairCandidates,
    Protocol,
    Setting,
    SweepRow,
    classify,
    collect_candidates,
    judge,
    kind_of,
    load_pairs,
    recommend,
    score_settings,
)
from llmcache.quality.pairs import FLOORS, PAIR_RESCUES, PAIR_THRESHOLDS, TuneResult, plot, scratch_runtime
from llmcache.shared.cache import LLMCache, StoreItem
from llmcache.shared.config import load_settings
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.guard.pair_model import BATCH_SIZE as PAIR_BATCH_SIZE
from llmcache.shared.guard.pair_model import loaded_pair_model
from llmcache.shared.models import CacheRequest, Completion, Message, Scope

FILES = [
    SHARED_DATA / "faq_pairs_dev.jsonl",
    SHARED_DATA / "qqp_pairs_val.jsonl.gz",
    ROOT / "bench" / "data" / "templated_pairs_tuning.jsonl",  # generated: the split the defaults are chosen on
    ROOT / "bench" / "data" / "templated_pairs_holdout.jsonl",  # generated: held-out domains and frames
    ROOT / "bench" / "data" / "templated_pairs_fresh.jsonl",  # generated: a second held-out split
    ROOT / "bench" / "data" / "ood_pairs_holdout.jsonl",  # hand-written, see bench/data/README.md
    ROOT / "bench" / "data" / "ood_pairs_probe.jsonl",
]
PROTOCOLS: tuple[Protocol, ...] = ("pairwise", "retrieval")
BASELINE = 0.90
DOC = ROOT / "docs" / "quality.md"
BEGIN, END = "<!-- quality:results -->", "<!-- /quality:results -->"
Tables = dict[tuple[str, str], tuple[list[PairCandidates], list[list[Judged]], float]]


def measure(quick: bool, sample: int | None) -> Tables:
    settings = load_settings()
    tables: Tables = {}
    for path in FILES:
        if quick and "qqp" in path.name:
            continue
        pairs = load_pairs(path)
        if sample is not None and len(pairs) > sample:  # a seeded sample, named as such in the tables
            pairs = random.Random(0).sample(pairs, sample)
        for protocol in PROTOCOLS:
            started = time.perf_counter()
            policy = settings.policy("default").model_copy(update={"pair_model": True})
            with scratch_runtime(settings, "default", policy) as runtime:
                table = collect_candidates(runtime.cache, pairs, floor=min(FLOORS), limit=1, protocol=protocol)
                judged = judge(table, runtime.guard)
            name = (
                path.name if len(pairs) == len(load_pairs(path)) else f"{path.name} (seeded {len(pairs)}-pair sample)"
            )
            tables[(name, protocol)] = (table, judged, time.perf_counter() - started)
            print(f"{path.name} {protocol}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return tables


def by_kind(
    table: Sequence[PairCandidates], judged: Sequence[Sequence[Judged]], setting: Setting
) -> dict[str, list[int]]:
    """kind -> [pairs, correct, false, unlabelled] under one setting, decided as `score_settings` decides."""
    counts: dict[str, list[int]] = {}
    thresholds = setting.thresholds()
    for item, row in zip(table, judged, strict=True):
        stats = counts.setdefault(kind_of(item.pair), [0, 0, 0, 0])
        stats[0] += 1
        if (
            not row
            or row[0].cosine < setting.floor
            or not row[0].allowed(setting.mode, thresholds, setting.swapped_slot_rule)
        ):
            continue
        outcome = classify(item.pair, item.candidates[0].text)
        stats[{"correct": 1, "false": 2, "unlabelled": 3}[outcome]] += 1
    return counts


def _row(name: str, protocol: str, label: str, r: SweepRow) -> str:
    return (
        f"| {name} | {protocol} | {label} | {r.precision:.3f} | {r.precision_labelled:.3f} | {r.recall:.3f} | "
        f"{r.false_hit_rate:.3f} | {r.correct_hits} | {r.false_hits} | {r.unlabelled_hits} |"
    )


def latency_lines() -> list[str]:
    """The pair model's cost per candidate, single and batched as the worker runs it (its threads, its batch size),
    on the FAQ file's own texts, float32 (the default) and int8 side by side, three interleaved rounds, the best of
    each; with the machine's load beside it: the numbers move with what else runs."""
    pairs = [(p.b, p.a) for p in load_pairs(SHARED_DATA / "faq_pairs_dev.jsonl")][:256]
    models = {"float32": loaded_pair_model(), "int8": loaded_pair_model(int8=True)}
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for model in models.values():
        model.score_many(pairs[:8])
    for _ in range(3):
        for name, model in models.items():
            started = time.perf_counter()
            for pair in pairs[:100]:
                model.score_many([pair])
            single = (time.perf_counter() - started) / 100 * 1000
            started = time.perf_counter()
            model.score_many(pairs)
            timings[name].append((single, (time.perf_counter() - started) / len(pairs) * 1000))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    best = {name: (min(t[0] for t in runs), min(t[1] for t in runs)) for name, runs in timings.items()}
    (single, batched), (single8, batched8) = best["float32"], best["int8"]
    return [
        f"Pair model latency (onnxruntime, {models['float32'].threads} intra-op thread(s) as served, this shared "
        f"2-core machine, load average {load}; best of three interleaved rounds): float32 (the default) "
        f"**{single:.2f} ms** per candidate scored alone, **{batched:.2f} ms** per candidate in the served batches of "
        f"{PAIR_BATCH_SIZE} ({len(pairs)} FAQ pairs, length-sorted); int8 (`LLMCACHE_GUARD__PAIR_MODEL_PRECISION`) "
        f"{single8:.2f} ms alone, {batched8:.2f} ms batched ({batched / batched8:.2f}x faster batched)."
    ]


def report(tables: Tables) -> list[str]:
    policy = load_settings().policy("default")
    floor, accept, rescue = policy.similarity_threshold, policy.pair_accept_above, policy.pair_rescue_above
    default = Setting(floor=floor, mode="rules+pair", pair_accept_above=accept, pair_rescue_above=rescue)
    lightgbm = Setting(floor=0.66, mode="rules+verifier", veto_below=0.0, rescue_above=0.9, swapped_slot_rule=False)
    previous = Setting(
        floor=0.66, mode="rules+pair", pair_accept_above=0.05, pair_rescue_above=0.9, swapped_slot_rule=False
    )
    cosine = Setting(floor=BASELINE, mode="cosine")
    labels = (
        (cosine, f"cosine {BASELINE:.2f}, no guard"),
        (lightgbm, "floor 0.66 + rules + LightGBM verifier (two defaults ago)"),
        (previous, "floor 0.66 + rules + pair model >= 0.05, no swapped-slot rule (previous default settings)"),
        (default, f"**default**: floor {floor:g} + rules + pair model >= {accept:g} (soft conflicts >= {rescue:g})"),
    )
    lines = [BEGIN, f"Measured {machine_line()}; default namespace.", "", *latency_lines(), ""]
    lines += [
        "| file | protocol | setting | precision (strict) | precision (labelled) | recall | false-hit rate | correct "
        "| false | unlabelled |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    kinds: list[str] = []
    sweeps: list[str] = []
    grid = [
        Setting(floor=f, mode="rules+pair", pair_accept_above=t, pair_rescue_above=r)
        for f in FLOORS
        for t in PAIR_THRESHOLDS
        for r in PAIR_RESCUES
    ]
    for (name, protocol), (table, judged, seconds) in tables.items():
        rows = score_settings(table, judged, [s for s, _ in labels])
        lines += [_row(name, protocol, label, row) for row, (_, label) in zip(rows, labels, strict=True)]
        kind_before, kind_after = by_kind(table, judged, cosine), by_kind(table, judged, default)
        kind_previous = by_kind(table, judged, previous)
        if len(kind_after) > 2 or "qqp" not in name:
            kinds.append(f"\n`{name}`, {protocol}: by kind (cosine {BASELINE} no guard, previous default, default)\n")
            kinds.append("| kind | pairs | wrong hits, cosine 0.90 | wrong hits, previous default | correct, default "
                         "| false, default | unlabelled, default |")  # fmt: skip
            kinds.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            for kind, (pairs, correct, false, unlabelled) in sorted(kind_after.items()):
                before, earlier = kind_before[kind], kind_previous[kind]
                kinds.append(f"| {kind} | {pairs} | {before[2] + before[3]} | {earlier[2] + earlier[3]} | {correct} "
                             f"| {false} | {unlabelled} |")  # fmt: skip
        swept = score_settings(table, judged, grid)
        chosen = recommend(swept, 0.9)
        pick = f"{chosen.setting.describe()}: {chosen.precision:.3f} / {chosen.recall:.3f}" if chosen else "none"
        sweeps.append(f"- `{name}`, {protocol}: at precision >= 0.9 the most recall: {pick}; table built in "
                      f"{seconds:.0f} s.")  # fmt: skip
        if protocol == "pairwise":
            stem = name.split(".")[0]
            modes: dict[GuardMode, list[Setting]] = {
                "cosine": [Setting(floor=f, mode="cosine") for f in FLOORS],
                "rules": [Setting(floor=f, mode="rules") for f in FLOORS],
                "rules+verifier": [lightgbm.model_copy(update={"floor": f}) for f in FLOORS],
                "rules+pair": [default.model_copy(update={"floor": f}) for f in FLOORS],
            }
            curves = TuneResult({m: score_settings(table, judged, s) for m, s in modes.items()}, swept, chosen, None)
            plot(curves, f"{name} (pairwise): precision / recall", ROOT / "docs" / f"quality-{stem}.png")
    return [*lines, *kinds, "", "Sweeps of floor x pair-model threshold (target precision 0.9):", *sweeps, END]


def normalised(text: str) -> str:
    """As the cache keys and embeds a user message (`semantic_text`)."""
    return unicodedata.normalize("NFC", text).strip()


def retrieval_corpus(sample: Sequence[Pair], val: Sequence[Pair], train: Sequence[Pair], size: int) -> list[str]:
    """The distractors stored beside the sample's own `a` (which `collect_candidates` stores) to reach `size`
    distinct questions: the other validation `a` first, then training questions (both sides), never a looked-up
    `b` (that would be an exact hit) nor one of the sample's `a`. A smaller size's corpus is a prefix of a larger's."""
    own = dict.fromkeys(normalised(p.a) for p in sample)
    asked = {normalised(p.b) for p in sample}
    out: dict[str, None] = {}
    wanted = size - len(own)
    sources = [p.a for p in val] + [t for p in train for t in (p.a, p.b)]
    for text in (normalised(t) for t in sources):
        if len(out) >= wanted:
            break
        if text and text not in asked and text not in own:
            out.setdefault(text, None)
    if len(out) < wanted:
        raise SystemExit(f"bench/quality.py: only {len(own) + len(out)} distinct questions, {size} asked for")
    return list(out)


def distractor_vectors(texts: Sequence[str], embedder: Embedder, folder: Path) -> np.ndarray:
    """The texts' embeddings, kept under `folder` by a digest of the texts and the embedder, so a rerun is quick."""
    digest = hashlib.sha256("\n".join([type(embedder).__name__, *texts]).encode()).hexdigest()[:16]
    path = folder / f"qqp-distractors-{len(texts)}-{digest}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    chunks = []
    for start in range(0, len(texts), 1024):
        chunks.append(np.asarray(embedder.embed_batch(list(texts[start : start + 1024])), dtype=np.float32))
        print(f"embedded {min(start + 1024, len(texts))} / {len(texts)} distractors", file=sys.stderr, flush=True)
    vectors = np.concatenate(chunks) if chunks else np.empty((0, 0), np.float32)
    np.save(path, vectors)
    return vectors


def _eval_request(text: str) -> CacheRequest:
    """The same request shape (model, namespace, tenant) as `collect_candidates` stores and looks up."""
    return CacheRequest(
        provider="openai",
        model="eval-model",
        messages=[Message(role="user", content=text)],
        namespace="default",
        scope=Scope(tenant="eval"),
    )


def store_distractors(cache: LLMCache, texts: Sequence[str], vectors: np.ndarray) -> None:
    for start in range(0, len(texts), 512):
        items = []
        for text, vector in zip(texts[start : start + 512], vectors[start : start + 512], strict=True):
            request = _eval_request(text)
            miss = cache.miss_for(request).model_copy(update={"embedding": vector})
            answer = Completion(provider="openai", model="eval-model", text=f"answer to: {text}", finish_reason="stop")
            items.append(StoreItem(request, answer, miss))
        cache.store_many(items)


SizeRow = tuple[int, int, int, list[SweepRow], float]  # entries stored, lookups, positives, [baseline, default], s


def measure_sizes(sizes: Sequence[int], lookups: int, vectors_folder: Path) -> list[SizeRow]:
    """Each size in a fresh scratch cache: the distractors stored with their cached vectors, then the sample
    stored and looked up by `collect_candidates`, judged once, scored for the baseline and the default."""
    settings = load_settings()
    val = load_pairs(SHARED_DATA / "qqp_pairs_val.jsonl.gz")
    train = load_pairs(SHARED_DATA / "qqp_pairs_train.jsonl.gz") if max(sizes) > len(val) else []
    sample = random.Random(0).sample(val, lookups)
    own = len({normalised(p.a) for p in sample})
    if own > min(sizes):
        raise SystemExit(f"bench/quality.py: {own} distinct `a` in the sample do not fit in {min(sizes)} entries")
    distractors = retrieval_corpus(sample, val, train, max(sizes))
    policy = settings.policy("default").model_copy(update={"pair_model": True})
    scored_settings = (Setting(floor=BASELINE, mode="cosine"), default_setting())
    rows: list[SizeRow] = []
    vectors: np.ndarray | None = None
    for size in sorted(sizes):
        started = time.perf_counter()
        with scratch_runtime(settings, "default", policy) as runtime:
            if vectors is None:
                vectors = distractor_vectors(distractors, runtime.embedder, vectors_folder)
            store_distractors(runtime.cache, distractors[: size - own], vectors[: size - own])
            table = collect_candidates(runtime.cache, sample, floor=min(FLOORS), limit=1, protocol="retrieval")
            judged = judge(table, runtime.guard)
        seconds = time.perf_counter() - started
        positives = sum(p.label == 1 for p in sample)
        rows.append((size, len(sample), positives, score_settings(table, judged, scored_settings), seconds))
        print(f"{size} entries: {seconds:.0f} s", file=sys.stderr, flush=True)
    return rows


def default_setting() -> Setting:
    policy = load_settings().policy("default")
    return Setting(
        floor=policy.similarity_threshold,
        mode="rules+pair",
        pair_accept_above=policy.pair_accept_above,
        pair_rescue_above=policy.pair_rescue_above,
    )


SIZES_BEGIN, SIZES_END = "<!-- quality:retrieval-sizes -->", "<!-- /quality:retrieval-sizes -->"


def sizes_report(rows: Sequence[SizeRow], command: str, commit: str) -> list[str]:
    default = default_setting()
    labels = (f"cosine {BASELINE:.2f}, no guard", f"default: {default.describe()}, rules + pair model")
    lines = [
        SIZES_BEGIN,
        "## Retrieval protocol as the cache fills (1k, 10k, 100k entries)",
        "",
        f"Measured {machine_line()}; commit {commit}; `{command}`. Quora: the same seeded sample of "
        f"{rows[0][1]:,} `qqp_pairs_val` pairs ({rows[0][2]:,} positives) looked up (`b`) at every size (no more: "
        "the smallest cache must hold every looked-up pair's own `a`), the cache filled with the sample's own "
        "`a`, then the other validation `a`, then `qqp_pairs_train` questions (never a looked-up `b`), in a fresh "
        "scratch cache (Qdrant Edge shard, private Redis prefix) per size. Correct: a hit on the pair's own `a` on "
        "label 1, or on the very text asked; false: on its own `a` on label 0; unlabelled: on any other stored "
        "question. Strict precision counts an unlabelled hit false, labelled-only leaves it out; recall is on the "
        "sample's positives.",
        "",
        "| entries | setting | precision (strict) | precision (labelled) | recall | correct | false | unlabelled |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, _, _, scored, _ in rows:
        for label, r in zip(labels, scored, strict=True):
            lines.append(
                f"| {size:,} | {label} | {r.precision:.3f} | {r.precision_labelled:.3f} | {r.recall:.3f} | "
                f"{r.correct_hits} | {r.false_hits} | {r.unlabelled_hits} |"
            )
    (small, _, _, first, _), (large, _, _, last, _) = rows[0], rows[-1]
    lines += [
        "",
        f"From {small:,} to {large:,} entries strict precision falls from {first[1].precision:.3f} to "
        f"{last[1].precision:.3f} at the default and from {first[0].precision:.3f} to {last[0].precision:.3f} for "
        f"the baseline, as the nearest stored question is more and more often another one (unlabelled hits "
        f"{first[1].unlabelled_hits} -> {last[1].unlabelled_hits} at the default); labelled-only precision moves "
        f"from {first[1].precision_labelled:.3f} to {last[1].precision_labelled:.3f} (default) and "
        f"{first[0].precision_labelled:.3f} to {last[0].precision_labelled:.3f} (baseline), recall from "
        f"{first[1].recall:.3f} to {last[1].recall:.3f} (default) and {first[0].recall:.3f} to "
        f"{last[0].recall:.3f} (baseline).",
        "",
        "Time per size (store, look up, judge; the first size also embeds the distractors unless their vectors are "
        "cached): " + ", ".join(f"{s:,}: {t:.0f} s" for s, _, _, _, t in rows),
    ]
    return [*lines, SIZES_END]


def write_sizes(lines: Sequence[str]) -> None:
    """Replaces its own section, or appends it at the end of docs/quality.md."""
    text = DOC.read_text()
    block = "\n".join(lines)
    if SIZES_BEGIN in text:
        start, end = text.index(SIZES_BEGIN), text.index(SIZES_END) + len(SIZES_END)
        DOC.write_text(text[:start] + block + text[end:])
    else:
        DOC.write_text(text.rstrip("\n") + "\n\n" + block + "\n")


def main_sizes(args: list[str]) -> None:
    sizes = [int(s) for s in args[args.index("--retrieval-sizes") + 1].split(",")]
    lookups = int(args[args.index("--lookups") + 1]) if "--lookups" in args else 1000
    folder = (
        Path(args[args.index("--vectors-cache") + 1])
        if "--vectors-cache" in args
        else Path(tempfile.gettempdir()) / "llmcache-quality-vectors"
    )
    if "--load" in args:
        rows: list[SizeRow] = pickle.loads(Path(args[args.index("--load") + 1]).read_bytes())
    else:
        rows = measure_sizes(sizes, lookups, folder)
        if "--save" in args:
            Path(args[args.index("--save") + 1]).write_bytes(pickle.dumps(rows))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = sizes_report(rows, "python bench/quality.py " + " ".join(args), commit or "unknown")
    write_sizes(lines)
    print("\n".join(lines))


def main() -> None:
    quiet_logging()
    args = sys.argv[1:]
    if "--retrieval-sizes" in args:
        main_sizes(args)
        return
    if "--load" in args:
        tables: Tables = pickle.loads(Path(args[args.index("--load") + 1]).read_bytes())
    else:
        sample = int(args[args.index("--sample") + 1]) if "--sample" in args else None
        tables = measure("--quick" in args, sample)
        if "--save" in args:
            Path(args[args.index("--save") + 1]).write_bytes(pickle.dumps(tables))
    lines = report(tables)
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + "\n".join(lines) + text[end:])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
