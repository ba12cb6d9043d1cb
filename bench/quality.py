"""Semantic-hit quality on the labelled pairs in ../shared/data and bench/data, under both protocols of
../shared/data/README.md (pairwise and retrieval), in one run: the static-cosine baseline (0.90, no guard), the
rules with the older learned verifier, and the default guard (floor + rules + pair model), end to end through the
real cache core. Writes the tables into docs/quality.md and the curves into docs/quality-*.png.
Run: python bench/quality.py [--quick] (about 30 minutes on 2 shared cores; --quick leaves out Quora)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED_DATA, machine_line, quiet_logging
from shared.config import load_settings
from shared.evaluation import PairsReport, Protocol, SweepRow, load_pairs
from shared.guard.pair_model import loaded_pair_model
from workers.quality import TuneResult, eval_pairs, plot, tune_pairs

FILES = [
    SHARED_DATA / "faq_pairs_dev.jsonl",
    SHARED_DATA / "qqp_pairs_val.jsonl.gz",
    ROOT / "bench" / "data" / "templated_pairs_holdout.jsonl",  # generated, held-out domains and frames
    ROOT / "bench" / "data" / "ood_pairs_holdout.jsonl",  # hand-written, see bench/data/README.md
    ROOT / "bench" / "data" / "ood_pairs_probe.jsonl",
]
PROTOCOLS: tuple[Protocol, ...] = ("pairwise", "retrieval")
BASELINE = 0.90
DOC = ROOT / "docs" / "quality.md"
BEGIN, END = "<!-- quality:results -->", "<!-- /quality:results -->"


def _row(name: str, protocol: str, label: str, r: PairsReport | SweepRow) -> str:
    return (
        f"| {name} | {protocol} | {label} | {r.precision:.3f} | {r.precision_labelled:.3f} | {r.recall:.3f} | "
        f"{r.false_hit_rate:.3f} | {r.correct_hits} | {r.false_hits} | {r.unlabelled_hits} |"
    )


def _at(rows: list[SweepRow], floor: float) -> SweepRow:
    return min(rows, key=lambda r: abs(r.setting.floor - floor))


def latency_lines() -> list[str]:
    """The pair model's cost per candidate, single and batched, on the FAQ file's own texts."""
    model = loaded_pair_model()
    pairs = [(p.b, p.a) for p in load_pairs(SHARED_DATA / "faq_pairs_dev.jsonl")][:256]
    model.score_many(pairs[:8])
    started = time.perf_counter()
    for pair in pairs[:100]:
        model.score_many([pair])
    single = (time.perf_counter() - started) / 100 * 1000
    started = time.perf_counter()
    model.score_many(pairs, batch_size=64)
    batched = (time.perf_counter() - started) / len(pairs) * 1000
    return [
        f"Pair model latency (int8, onnxruntime, 2 threads, on this shared machine): **{single:.2f} ms** per "
        f"candidate scored alone, **{batched:.2f} ms** per candidate in batches of 64 ({len(pairs)} FAQ pairs)."
    ]


def main() -> None:
    quiet_logging()
    quick = "--quick" in sys.argv
    settings = load_settings()
    policy = settings.policy("default")
    floor, accept = policy.similarity_threshold, policy.pair_accept_above
    default = f"**default**: floor {floor} + rules + pair model >= {accept}"
    lines = [BEGIN, f"Measured {machine_line()}; default namespace.", ""]
    lines += [*latency_lines(), ""]
    lines += [
        "| file | protocol | setting | precision (strict) | precision (labelled) | recall | false-hit rate | correct "
        "| false | unlabelled |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    kinds: list[str] = []
    sweeps: list[str] = []
    for path in FILES:
        if quick and "qqp" in path.name:
            continue
        name, stem = path.name, path.name.split(".")[0]
        for protocol in PROTOCOLS:
            started = time.perf_counter()
            result: TuneResult = tune_pairs(settings, path, "default", 0.9, protocol=protocol)
            if protocol == "pairwise":
                plot(result, f"{name} (pairwise): precision / recall", ROOT / "docs" / f"quality-{stem}.png")
            report, guard_us = eval_pairs(settings, path, "default", protocol=protocol)
            cosine = _at(result.by_floor["cosine"], BASELINE)
            verifier = _at(result.by_floor["rules+verifier"], 0.66)
            lines.append(_row(name, protocol, f"cosine {BASELINE:.2f}, no guard", cosine))
            lines.append(_row(name, protocol, "floor 0.66 + rules + LightGBM verifier (previous default)", verifier))
            lines.append(_row(name, protocol, default, report))
            if report.by_kind:
                cosine_kinds, _ = eval_pairs(settings, path, "default", threshold=BASELINE, guard=False,
                                             protocol=protocol)  # fmt: skip
                kinds.append(f"\n`{name}`, {protocol}: hits by kind (cosine {BASELINE} no guard -> default):\n")
                kinds.append("| kind | pairs | false + unlabelled, cosine | correct, default | false, default "
                             "| unlabelled, default |")  # fmt: skip
                kinds.append("| --- | ---: | ---: | ---: | ---: | ---: |")
                for kind, stats in sorted(report.by_kind.items()):
                    before = cosine_kinds.by_kind.get(kind)
                    wrong = (before.false_hits + before.unlabelled_hits) if before else 0
                    kinds.append(f"| {kind} | {stats.pairs} | {wrong} | {stats.correct_hits} | {stats.false_hits} "
                                 f"| {stats.unlabelled_hits} |")  # fmt: skip
            chosen = result.chosen
            pick = (
                f"{chosen.setting.describe()} ({chosen.setting.mode}), recall {chosen.recall:.3f}" if chosen else "none"
            )
            sweeps.append(
                f"- `{name}`, {protocol}: best setting at precision 0.9: {pick}; guard cost {guard_us:.0f} us per "
                f"candidate (single); {time.perf_counter() - started:.0f} s."
            )
    lines += [*kinds, "", "Sweeps (`llmcache tune pairs FILE --protocol P`, target precision 0.9):", *sweeps, END]
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + "\n".join(lines) + text[end:])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
