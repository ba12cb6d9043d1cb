"""Pair models side by side on the same judged candidates: rescoring, the choice of defaults, and the targets.

`bench/quality.py --save tables.pkl` stores and searches every labelled file once and judges each nearest candidate
(rules, verifier, pair model). The cosine and the rules do not depend on the pair model, so a candidate model is
compared fairly by rescoring only the pair-model scores of the same candidates. For each model this prints the
area under the ROC curve on the candidates the pair model decides (rule-clean ones), the setting chosen by the rule
below on the tuning files only (FAQ dev, Quora validation, the tuning templates), and every file at that setting.

The choice: among floor x pair-model threshold x soft-conflict threshold settings that keep the FAQ target
(precision >= 0.95, recall >= 0.65), Quora's recall target (>= 0.55) and recall >= 0.60 on the tuning templates,
the one with the highest mean of Quora and tuning-template precision (to three decimals; ties: the tuning
templates' precision, then the higher floor). Before, the defaults were the most template precision that kept the
FAQ target alone; with no recall floor that rule refuses every soft conflict and loses Quora's recall target.

Run: python bench/pair_models.py tables.pkl shared/guard/data /tmp/candidate-model [...]
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmcache.quality.evaluation import Judged, PairCandidates, Setting, SweepRow, score_settings
from llmcache.quality.pairs import PAIR_RESCUES, PAIR_THRESHOLDS
from llmcache.shared.guard.pair_model import PairModel

Table = tuple[list[PairCandidates], list[list[Judged]], float]
TUNING = {"faq": "faq_pairs_dev.jsonl", "quora": "qqp_pairs_val.jsonl.gz", "templates": "templated_pairs_tuning.jsonl"}
FLOORS = [round(x, 2) for x in np.arange(0.50, 0.80, 0.02)]
# `tune pairs`' grid, with 0.15 added where the defaults were chosen
THRESHOLDS = sorted({*PAIR_THRESHOLDS, 0.15})
TARGETS = {"faq_pairs_dev.jsonl": (0.95, 0.65), "qqp_pairs_val.jsonl.gz": (0.90, 0.55)}
TEMPLATE_TARGET = (0.97, 0.70)


def rescored(table: Table, model: PairModel) -> Table:
    """The same candidates and rule verdicts, with `model`'s pair scores where the pair model has a say."""
    items, judged, seconds = table
    wanted = sorted(
        {
            (item.pair.b.strip(), candidate.text)
            for item, row in zip(items, judged, strict=True)
            for candidate, verdict in zip(item.candidates, row, strict=True)
            if verdict.pair_score is not None
        }
    )
    scores = dict(zip(wanted, (float(s) for s in model.score_many(wanted)), strict=True)) if wanted else {}
    new_judged = [
        [
            replace(verdict, pair_score=scores[(item.pair.b.strip(), c.text)])
            if verdict.pair_score is not None
            else verdict
            for c, verdict in zip(item.candidates, row, strict=True)
        ]
        for item, row in zip(items, judged, strict=True)
    ]
    return items, new_judged, seconds


def auc(table: Table) -> float:
    """Ranking quality of the pair score on the nearest candidates it decides (label 1 against label 0)."""
    items, judged, _ = table
    scores, labels = [], []
    for item, row in zip(items, judged, strict=True):
        if row and row[0].pair_score is not None and not row[0].identical:
            scores.append(row[0].pair_score)
            labels.append(item.pair.label)
    positives = np.array([s for s, label in zip(scores, labels, strict=True) if label == 1])
    negatives = np.array([s for s, label in zip(scores, labels, strict=True) if label == 0])
    if not len(positives) or not len(negatives):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([positives, negatives]))) + 1
    return float((ranks[: len(positives)].sum() - len(positives) * (len(positives) + 1) / 2)
                 / (len(positives) * len(negatives)))  # fmt: skip


def grid() -> list[Setting]:
    return [
        Setting(floor=floor, mode="rules+pair", pair_accept_above=threshold, pair_rescue_above=max(rescue, threshold))
        for floor in FLOORS
        for threshold in THRESHOLDS
        for rescue in PAIR_RESCUES
    ]


def choose(tables: dict[str, Table], settings: Sequence[Setting]) -> tuple[Setting, dict[str, SweepRow]] | None:
    rows = {name: score_settings(*tables[name][:2], settings) for name in TUNING.values()}
    best: tuple[tuple[float, float, float], Setting, dict[str, SweepRow]] | None = None
    for i, setting in enumerate(settings):
        faq, quora, templates = (rows[TUNING[k]][i] for k in ("faq", "quora", "templates"))
        if faq.precision < 0.95 or faq.recall < 0.65 or quora.recall < 0.55 or templates.recall < 0.60:
            continue
        key = (round((quora.precision + templates.precision) / 2, 3), round(templates.precision, 3), setting.floor)
        if best is None or key > best[0]:
            best = (key, setting, {name: rows[name][i] for name in rows})
    return None if best is None else (best[1], best[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", type=Path, help="judged tables from bench/quality.py --save")
    parser.add_argument("models", type=Path, nargs="+", help="pair model folders (weights + card)")
    parser.add_argument("--protocol", default="pairwise")
    parser.add_argument("--int8", action="store_true", help="also score each model with int8 linear layers")
    args = parser.parse_args()
    saved: dict[tuple[str, str], Table] = pickle.loads(args.tables.read_bytes())
    base = {name: table for (name, protocol), table in saved.items() if protocol == args.protocol}
    settings = grid()
    precisions = (False, True) if args.int8 else (False,)
    for folder, int8 in ((folder, int8) for folder in args.models for int8 in precisions):
        model = PairModel(folder, int8=int8)
        tables = {name: rescored(table, model) for name, table in base.items()}
        precision = "int8" if int8 else "float32"
        print(f"\n## {folder}, {precision} (sha256 {model.card.weights_sha256[:12]}, {model.card.training_data})")
        print("AUC on rule-clean nearest candidates: "
              + ", ".join(f"{name} {auc(table):.3f}" for name, table in tables.items()))  # fmt: skip
        chosen = choose(tables, settings)
        if chosen is None:
            print("no setting keeps the FAQ target with the recall floors")
            continue
        setting, _ = chosen
        print(f"chosen on the tuning files: {setting.describe()}")
        print("| file | precision | recall | correct | false | target |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for name, table in tables.items():
            row = score_settings(*table[:2], [setting])[0]
            target = TARGETS.get(name, TEMPLATE_TARGET if "templated" in name and "tuning" not in name else None)
            met = "" if target is None else ("met" if row.precision >= target[0] and row.recall >= target[1] else
                                             f"not met ({target[0]} / {target[1]})")  # fmt: skip
            print(
                f"| {name} | {row.precision:.3f} | {row.recall:.3f} | {row.correct_hits} | {row.false_hits} | {met} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
