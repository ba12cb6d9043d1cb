"""Semantic-hit quality on the labelled pairs in ../shared/data and bench/data (the retrieval protocol of
../shared/data/README.md): cosine only, the rules, and the default guard (rules + learned verifier), at the default
settings. Writes the tables into docs/quality.md and the curves into docs/quality-*.png.
Run: python bench/quality.py (about 10 minutes on 2 cores)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED_DATA, machine_line, quiet_logging
from shared.config import load_settings
from shared.evaluation import PairsReport, SweepRow
from workers.quality import eval_pairs, plot, tune_pairs

FILES = [
    SHARED_DATA / "faq_pairs_dev.jsonl",
    SHARED_DATA / "qqp_pairs_val.jsonl.gz",
    SHARED_DATA / "paraphrase_positives.jsonl",
    ROOT / "bench" / "data" / "ood_pairs_probe.jsonl",  # self-written, see bench/data/README.md
    ROOT / "bench" / "data" / "ood_pairs_holdout.jsonl",
]
DOC = ROOT / "docs" / "quality.md"
BEGIN, END = "<!-- quality:results -->", "<!-- /quality:results -->"


def _line(name: str, label: str, r: PairsReport | SweepRow, lookup: str) -> str:
    identical = r.false_hits_identical_text if isinstance(r, PairsReport) else "-"
    other = r.false_hits_other_question if isinstance(r, PairsReport) else "-"
    return (
        f"| {name} | {label} | {r.precision:.3f} | {r.recall:.3f} | {r.false_hit_rate:.3f} | {r.correct_hits} | "
        f"{r.false_hits} | {other} | {identical} | {lookup} |"
    )


def main() -> None:
    quiet_logging()
    settings = load_settings()
    policy = settings.policy("default")
    floor = policy.similarity_threshold
    veto, rescue = policy.verifier_veto_below, policy.verifier_rescue_above
    default = f"floor {floor} + rules + verifier (veto < {veto}, rescue >= {rescue})"
    lines = [BEGIN, f"Measured {machine_line()}; default namespace.", ""]
    lines += [
        "| file | setting | precision | recall | false-hit rate | correct | false | of which on another question "
        "| of which identical text | lookup ms/pair |"
    ]
    lines += ["| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    kinds: list[str] = []
    sweeps: list[str] = []
    for path in FILES:
        name = path.name
        started = time.perf_counter()
        result = tune_pairs(settings, path, "default", 0.9)
        stem = name.split(".")[0]
        plot(result, f"{name}: precision / recall by cosine floor", ROOT / "docs" / f"quality-{stem}.png")
        report, guard_us = eval_pairs(settings, path, "default")
        baseline, _ = eval_pairs(settings, path, "default", threshold=0.80, guard=False)
        rules_only = next(r for r in result.by_floor["rules"] if r.setting.floor == round(floor, 2))
        lines.append(_line(name, "cosine 0.80, no guard", baseline, f"{baseline.lookup_ms_mean:.2f}"))
        lines.append(_line(name, f"floor {floor} + rules only", rules_only, "(sweep)"))
        lines.append(_line(name, f"**default**: {default}", report, f"{report.lookup_ms_mean:.2f}"))
        if report.by_kind and any(k != "positive" for k in report.by_kind):
            kinds.append(f"\n`{name}`, false hits by kind (no guard at 0.80 -> default guard):\n")
            kinds.append("| kind | pairs | false hits, cosine 0.80 | false hits, default guard |")
            kinds.append("| --- | ---: | ---: | ---: |")
            for kind, stats in sorted(report.by_kind.items()):
                before = baseline.by_kind.get(kind)
                kinds.append(f"| {kind} | {stats.pairs} | {before.false_hits if before else 0} | {stats.false_hits} |")
        cosine, chosen = result.cosine_best, result.chosen
        cosine_txt = (
            f"cosine alone reaches precision 0.9 at floor {cosine.setting.floor:.2f} with recall {cosine.recall:.3f}"
            if cosine
            else "cosine alone reaches precision 0.9 at no floor"
        )
        if chosen:
            guard_txt = f"the guard at {chosen.setting.describe()}, with recall {chosen.recall:.3f}"
        else:
            best = max(result.grid, key=lambda r: (r.precision, r.recall))
            guard_txt = (
                f"the guard at no setting either (its most precise: {best.precision:.3f} at recall {best.recall:.3f}, "
                f"{best.setting.describe()})"
            )
        sweeps.append(
            f"- `{name}`: {cosine_txt}; {guard_txt} (curve: `docs/quality-{stem}.png`); guard cost "
            f"{guard_us:.0f} us per verified candidate; run took {time.perf_counter() - started:.0f} s."
        )
    lines += [*kinds, "", "Sweeps (`llmcache tune pairs FILE`, target precision 0.9):", *sweeps, END]
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + "\n".join(lines) + text[end:])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
