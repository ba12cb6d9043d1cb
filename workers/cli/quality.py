"""Measuring and tuning the cache, and sizing a model's KV cache: `eval`, `tune`, `train` and `kv-estimate`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcache.workers.cli.common import file_exists, settings

if TYPE_CHECKING:
    from llmcache.quality.evaluation import SweepRow
    from llmcache.shared.config import Settings

QUALITY_EXTRA_HINT = "pip install 'llmcache[quality]'"


def add_eval(commands: Any) -> None:
    evaluate_parser = commands.add_parser("eval", help="measure semantic-hit quality")
    evaluate_parser.set_defaults(run=eval_command)
    evaluate = evaluate_parser.add_subparsers(dest="eval_command", required=True)
    pairs = evaluate.add_parser("pairs", help="store every a, look up every b; precision, recall, false hits")
    pairs.add_argument("file", type=Path, help="JSONL or JSONL.gz with a, b, label (extra fields allowed)")
    pairs.add_argument("--threshold", type=float, help="cosine floor (default: the namespace's)")
    pairs.add_argument("--namespace", default="default", help="whose policy to apply")
    pairs.add_argument("--no-guard", action="store_true", help="cosine only, without the false-hit guard")
    pairs.add_argument("--no-verifier", action="store_true", help="the guard's rules only, without its verifier")
    pairs.add_argument("--no-pair-model", action="store_true", help="without the pair model (the verifier judges)")
    pairs.add_argument("--protocol", choices=("pairwise", "retrieval"), default="retrieval",
                       help="pairwise: each a in a scope of its own; retrieval: every a stored together")  # fmt: skip
    pairs.add_argument("--json", action="store_true")


def add_tune(commands: Any) -> None:
    tune_parser = commands.add_parser("tune", help="choose a threshold")
    tune_parser.set_defaults(run=tune_command)
    tune = tune_parser.add_subparsers(dest="tune_command", required=True)
    sweep = tune.add_parser("pairs", help="sweep the cosine floor, with and without the guard")
    sweep.add_argument("file", type=Path)
    sweep.add_argument("--target-precision", type=float, default=0.9)
    sweep.add_argument("--namespace", default="default")
    sweep.add_argument("--plot", type=Path, help="write the precision/recall curves as a PNG")
    sweep.add_argument("--protocol", choices=("pairwise", "retrieval"), default="retrieval")
    sweep.add_argument(
        "--write", action="store_true", help="write the recommended floor and verifier thresholds into the policy file"
    )


def add_train(commands: Any) -> None:
    train_parser = commands.add_parser("train", help="train a model the cache ships")
    train_parser.set_defaults(run=train_command)
    train = train_parser.add_subparsers(dest="train_command", required=True)
    verifier = train.add_parser("verifier", help="fit the guard's learned pair verifier on labelled pairs")
    verifier.add_argument("file", type=Path, help="JSONL or JSONL.gz with a, b, label (e.g. qqp_pairs_train)")
    verifier.add_argument("--out", type=Path, help="model folder (default: the shipped one, shared/guard/data)")
    verifier.add_argument("--rounds", type=int, default=600, help="boosting rounds")
    verifier.add_argument("--seed", type=int, default=0)


def add_kv_estimate(commands: Any) -> None:
    kv = commands.add_parser("kv-estimate", help="KV-cache memory of a self-hosted model (GQA aware)")
    kv.add_argument("--preset", help="one of the known model shapes (see --list)")
    kv.add_argument("--layers", type=int)
    kv.add_argument("--heads", type=int, help="attention (query) heads")
    kv.add_argument("--kv-heads", type=int, help="key/value heads (grouped-query attention); default = heads")
    kv.add_argument("--hidden", type=int, help="hidden size")
    kv.add_argument("--head-dim", type=int, help="default hidden / heads")
    kv.add_argument("--seq-len", type=int, default=4096)
    kv.add_argument("--batch", type=int, default=1)
    kv.add_argument("--dtype", default="fp16")
    kv.add_argument("--list", action="store_true", help="list the presets")
    kv.set_defaults(run=kv_estimate_command)


def eval_command(args: argparse.Namespace) -> int:
    from llmcache.quality.pairs import eval_pairs
    from llmcache.shared.errors import LLMCacheError

    if not file_exists(args.file, "eval pairs"):
        return 2
    try:
        report, guard_us = eval_pairs(
            settings(),
            args.file,
            args.namespace,
            threshold=args.threshold,
            guard=not args.no_guard,
            verifier=not args.no_verifier,
            pair_model=not (args.no_verifier or args.no_pair_model),
            protocol=args.protocol,
        )
    except LLMCacheError as error:
        print(f"eval pairs: {error}", file=sys.stderr)
        return 2
    if args.json:
        flags = {"guard": not args.no_guard, "verifier": not (args.no_guard or args.no_verifier)}
        print(json.dumps(report.model_dump() | flags | {"guard_us_per_candidate": guard_us}))
        return 0
    print(f"{args.file.name}: n={report.n} ({report.positives} positive, {report.negatives} negative), "
          f"guard {'off' if args.no_guard else 'rules only' if args.no_verifier else 'on'}")  # fmt: skip
    print(f"  protocol {report.protocol}: correct hits {report.correct_hits} ({report.identical_text_hits} on the "
          f"identical text), false hits {report.false_hits}, unlabelled hits {report.unlabelled_hits}, "
          f"missed positives {report.misses}")  # fmt: skip
    print(f"  precision {report.precision:.3f} (labelled only {report.precision_labelled:.3f})  "
          f"recall {report.recall:.3f}  false-hit rate {report.false_hit_rate:.3f}")  # fmt: skip
    print(f"  lookup {report.lookup_ms_mean:.2f} ms per pair (batched), guard {guard_us:.1f} us per candidate")
    for kind, stats in sorted(report.by_kind.items()):
        print(f"  {kind:<12} pairs {stats.pairs:>5}  hits {stats.hits:>5}  correct {stats.correct_hits:>5}  "
              f"false hits {stats.false_hits:>5}  unlabelled {stats.unlabelled_hits:>5}")  # fmt: skip
    return 0


def plotting_available() -> bool:
    """matplotlib comes with the `quality` extra; without it `--plot` is refused before any work is done."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def tune_command(args: argparse.Namespace) -> int:
    from llmcache.quality.evaluation import GuardMode
    from llmcache.quality.pairs import plot, tune_pairs
    from llmcache.shared.errors import LLMCacheError

    if not file_exists(args.file, "tune pairs"):
        return 2
    if args.plot and not plotting_available():
        print(f"tune pairs: --plot needs matplotlib, which comes with the quality extra: {QUALITY_EXTRA_HINT}",
              file=sys.stderr)  # fmt: skip
        return 2
    config = settings()
    target = args.target_precision
    try:
        result = tune_pairs(config, args.file, args.namespace, target, protocol=args.protocol)
    except LLMCacheError as error:
        print(f"tune pairs: {error}", file=sys.stderr)
        return 2
    every: tuple[GuardMode, ...] = ("cosine", "rules", "rules+verifier", "rules+pair")
    modes = tuple(mode for mode in every if mode in result.by_floor)
    print(f"{'floor':>6} | " + " | ".join(f"{mode + ': P':>18} {'R':>6} {'FHR':>6}" for mode in modes))
    for rows in zip(*(result.by_floor[mode] for mode in modes), strict=True):
        cells = " | ".join(f"{r.precision:>18.3f} {r.recall:>6.3f} {r.false_hit_rate:>6.3f}" for r in rows)
        print(f"{rows[0].setting.floor:>6.2f} | {cells}")
    baseline, chosen = result.cosine_best, result.chosen
    if baseline is not None:
        print(f"cosine only: floor {baseline.setting.floor:.2f} meets precision {target} "
              f"with recall {baseline.recall:.3f}")  # fmt: skip
    else:
        print(f"cosine only: no floor reaches precision {target}")
    if chosen is None:
        best = max(result.grid, key=lambda r: (r.precision, r.recall))
        print(f"no setting reaches precision {target} with the guard; the most precise: "
              f"{best.setting.describe()}: precision {best.precision:.3f}, recall {best.recall:.3f}")  # fmt: skip
    else:
        print(f"recommended: guard on, {chosen.setting.describe()}: precision {chosen.precision:.3f}, "
              f"recall {chosen.recall:.3f}, false-hit rate {chosen.false_hit_rate:.3f}")  # fmt: skip
    if args.plot:
        plot(result, f"{args.file.name}: precision / recall by cosine floor", args.plot)
        print(f"plot: {args.plot}")
    if args.write and chosen is not None:
        _write_recommendation(config, args.namespace, chosen)
    return 0


def _write_recommendation(config: Settings, namespace: str, chosen: SweepRow) -> None:
    """The chosen floor and thresholds into the namespace's entry of the policy file, other fields kept."""
    path = config.policy_file_path
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    written: dict[str, object] = {"similarity_threshold": chosen.setting.floor, "guard": True, "verifier": True}
    if chosen.setting.mode == "rules+pair":
        written |= {
            "pair_model": True,
            "pair_accept_above": chosen.setting.pair_accept_above,
            "pair_reject_below": chosen.setting.pair_accept_above,
            "pair_rescue_above": chosen.setting.pair_rescue_above,
        }
    else:
        written |= {
            "pair_model": False,
            "verifier_veto_below": chosen.setting.veto_below,
            "verifier_rescue_above": chosen.setting.rescue_above,
        }
    current.setdefault(namespace, {}).update(written)
    path.write_text(json.dumps(current, indent=2) + "\n")
    print(f"wrote {written} for namespace {namespace!r} to {path}")


def train_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from llmcache.quality.evaluation import load_pairs
    from llmcache.quality.verifier_training import train_verifier
    from llmcache.shared.embedding.minilm import MiniLMEmbedder
    from llmcache.shared.errors import LLMCacheError
    from llmcache.shared.guard.learned import DATA_DIR

    if not file_exists(args.file, "train verifier"):
        return 2
    try:
        pairs = load_pairs(args.file)
    except LLMCacheError as error:
        print(f"train verifier: {error}", file=sys.stderr)
        return 2
    if len({p.label for p in pairs}) < 2:
        print(f"train verifier: {args.file} needs pairs of both labels", file=sys.stderr)
        return 2
    with tqdm(desc="embedding", unit="text") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        card = train_verifier(
            pairs,
            MiniLMEmbedder(batch_size=128),
            args.out or DATA_DIR,
            training_file=args.file.name,
            rounds=args.rounds,
            seed=args.seed,
            progress=progress,
        )
    print(f"trained on {card.training_pairs} pairs ({card.positives} positives), {card.boosting_rounds} rounds; "
          f"model sha256 {card.model_sha256[:16]}... in {args.out or DATA_DIR}")  # fmt: skip
    return 0


def kv_estimate_command(args: argparse.Namespace) -> int:
    from llmcache.quality.kv_estimate import PRESETS, ModelShape, human_bytes, kv_cache_bytes

    if args.list:
        for name, shape in PRESETS.items():
            print(f"{name}: {shape.model_dump(exclude_none=True)}")
        return 0
    if args.preset:
        if args.preset not in PRESETS:
            print(f"kv-estimate: unknown preset {args.preset!r}; known: {', '.join(PRESETS)}", file=sys.stderr)
            return 2
        shape = PRESETS[args.preset]
    else:
        given = (("--layers", args.layers), ("--heads", args.heads), ("--hidden", args.hidden))
        missing = [flag for flag, value in given if value is None]
        if missing:
            print(f"kv-estimate: give --preset or {', '.join(missing)}", file=sys.stderr)
            return 2
        shape = ModelShape(
            layers=args.layers,
            attention_heads=args.heads,
            kv_heads=args.kv_heads,
            hidden_size=args.hidden,
            head_dim=args.head_dim,
        )
    try:
        total = kv_cache_bytes(shape, args.seq_len, args.batch, args.dtype)
    except ValueError as error:
        print(f"kv-estimate: {error}", file=sys.stderr)
        return 2
    print(
        f"KV cache: 2 x {shape.layers} layers x {shape.effective_kv_heads} kv heads x {shape.effective_head_dim} "
        f"head dim x {args.seq_len} tokens x batch {args.batch} x {args.dtype} = {human_bytes(total)} ({total:,} bytes)"
    )
    return 0
