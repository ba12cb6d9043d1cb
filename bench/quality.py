"""Semantic-hit quality on the labelled pairs in ../shared/data (the retrieval protocol of its README), with and
without the false-hit guard, at the default settings: writes the tables into docs/quality.md and the curves into
docs/quality-*.png. Run: python bench/quality.py (about 10 minutes on 2 cores)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED_DATA, machine_line
from shared.config import load_settings
from workers.quality import eval_pairs, plot, recommended, tune_pairs

FILES = ["faq_pairs_dev.jsonl", "qqp_pairs_val.jsonl.gz", "paraphrase_positives.jsonl"]
DOC = ROOT / "docs" / "quality.md"
BEGIN, END = "<!-- quality:results -->", "<!-- /quality:results -->"


def main() -> None:
    settings = load_settings()
    floor = settings.policy("default").similarity_threshold
    lines = [BEGIN, f"Measured {machine_line()}; default namespace (floor {floor}, guard on).", ""]
    lines += ["| file | setting | precision | recall | false-hit rate | correct | false | lookup ms/pair |"]
    lines += ["| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    kinds: list[str] = []
    sweeps: list[str] = []
    for name in FILES:
        path = SHARED_DATA / name
        started = time.perf_counter()
        plain, guarded = tune_pairs(settings, path, "default")
        best_plain = recommended(plain, 0.9)
        chosen = recommended(guarded, 0.9)
        stem = name.split(".")[0]
        plot(
            plain, guarded, chosen, f"{name}: precision / recall by cosine floor", ROOT / "docs" / f"quality-{stem}.png"
        )
        report, guard_us = eval_pairs(settings, path, "default", None, True)
        baseline, _ = eval_pairs(settings, path, "default", 0.80, False)
        for label, r in (("cosine 0.80, no guard", baseline), (f"default: floor {floor} + guard", report)):
            lines.append(
                f"| {name} | {label} | {r.precision:.3f} | {r.recall:.3f} | {r.false_hit_rate:.3f} | "
                f"{r.correct_hits} | {r.false_hits} | {r.lookup_ms_mean:.2f} |"
            )
        if report.by_kind and any(k != "positive" for k in report.by_kind):
            kinds.append(f"\n`{name}`, false hits by kind (no guard at 0.80 -> default with guard):\n")
            kinds.append("| kind | pairs | false hits, cosine 0.80 | false hits, default + guard |")
            kinds.append("| --- | ---: | ---: | ---: |")
            for kind, stats in sorted(report.by_kind.items()):
                before = baseline.by_kind.get(kind)
                kinds.append(f"| {kind} | {stats.pairs} | {before.false_hits if before else 0} | {stats.false_hits} |")
        plain_txt = "cosine alone reaches precision 0.9 at no floor"
        if best_plain:
            plain_txt = f"cosine alone reaches precision 0.9 at floor {best_plain.threshold:.2f}"
            plain_txt += f" with recall {best_plain.recall:.3f}"
        guard_txt = (
            f"with the guard at floor {chosen.threshold:.2f} with recall {chosen.recall:.3f}"
            if chosen
            else "with the guard at no floor either"
        )
        sweeps.append(
            f"- `{name}`: {plain_txt}; {guard_txt} (curve: `docs/quality-{stem}.png`); guard cost "
            f"{guard_us:.0f} us per verified candidate; run took {time.perf_counter() - started:.0f} s."
        )
    lines += [*kinds, "", "Sweeps (`llmcache tune pairs FILE`):", *sweeps, END]
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + "\n".join(lines) + text[end:])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
