"""The chat endpoints' answer logic: OpenAI Chat Completions and Embeddings, Anthropic Messages. Each takes the
request body and returns (response body, output tokens), raising EmulatedError as the provider would refuse it.
The Batch API modules answer every batched request through the same functions (`batch=True`: batch prices)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from llmcache.shared.errors import ConfigurationError
from llmcache.shared.models import Usage
from llmcache.shared.providers.prompt_cache import MAX_BREAKPOINTS
from llmcache.shared.providers.tokens import count_content_tokens, count_tokens, encode_tokens
from llmcache.testing.emulator.accounting import Block, anthropic_account, openai_account
from llmcache.testing.emulator.answers import answer_for, truncate_to_tokens
from llmcache.testing.emulator.state import EmulatedError, EmulatorState

ChatHandler = Callable[..., tuple[dict[str, Any], int]]


def _usd(state: EmulatorState, model: str, usage: Usage, batch: bool) -> float:
    try:
        return state.pricing.cost(model, usage, batch=batch).usd
    except ConfigurationError:  # a model outside the pricing table is answered, not priced
        return 0.0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def required_model(body: dict[str, Any], message: str) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EmulatedError(400, message, "model")
    return model


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def openai_completion(state: EmulatorState, body: dict[str, Any], *, batch: bool = False) -> tuple[dict[str, Any], int]:
    model = required_model(body, "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EmulatedError(
            400, "[] is too short - 'messages'" if messages == [] else "'messages' is required", "messages"
        )
    prompt_tokens: list[int] = []
    if body.get("tools"):
        prompt_tokens += encode_tokens(json.dumps(body["tools"], sort_keys=True))
    for message in messages:
        prompt_tokens += encode_tokens(f"<|{message.get('role')}|>") + encode_tokens(
            _text_of(message.get("content")) or json.dumps(message.get("content"), sort_keys=True)
        )
    prompt_count = len(prompt_tokens) + 3  # every reply is primed with <|start|>assistant<|message|>
    config = state.config
    account = openai_account(
        state.openai_cache,
        model,
        prompt_tokens,
        minimum=config.openai_min_cached_tokens,
        step=config.openai_cache_step_tokens,
        retention_s=config.openai_cache_retention_seconds,
    )
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    text, output_tokens, cut = truncate_to_tokens(
        answer_for(config, last_user_text(messages), {k: v for k, v in body.items() if k != "stream"}), max_tokens
    )
    state.openai_cache.commit(account.pending)
    usage = Usage(
        input_tokens=prompt_count - account.read_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=account.read_tokens,
    )
    state.stats.record_call(
        "chat.completions",
        model,
        usd=_usd(state, model, usage, batch),
        batch=batch,
        input_tokens=prompt_count,
        output_tokens=output_tokens,
        cache_read_tokens=account.read_tokens,
    )
    response = {
        "id": f"chatcmpl-emu{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_count,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_count + output_tokens,
            "prompt_tokens_details": {"cached_tokens": account.read_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_llmcache_emulator",
    }
    return response, output_tokens


def openai_embeddings(state: EmulatorState, body: dict[str, Any], *, batch: bool = False) -> tuple[dict[str, Any], int]:
    model = required_model(body, "you must provide a model parameter")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise EmulatedError(400, "'input' must be a string or a non-empty array of strings", "input")
    dimensions = int(body.get("dimensions") or state.config.embedding_dimensions)
    encoding = body.get("encoding_format", "float")
    data = []
    tokens = 0
    for index, text in enumerate(inputs):
        tokens += count_tokens(text)
        seed = int.from_bytes(hashlib.sha256(f"{model}\x00{text}".encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
        vector /= np.linalg.norm(vector)
        embedding: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode() if encoding == "base64" else vector.tolist()
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    state.stats.record_call("embeddings", model, batch=batch, input_tokens=tokens)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }, 0


def _anthropic_blocks(body: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []

    def add(block: Any) -> None:
        if isinstance(block, str):
            block = {"type": "text", "text": block}
        control = block.get("cache_control") if isinstance(block, dict) else None
        material = {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block
        ttl = (control.get("ttl") or "5m") if isinstance(control, dict) else None
        blocks.append(Block(material, count_content_tokens(material), ttl))

    for tool in body.get("tools") or []:
        add(tool)
    system = body.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        add(block)
    for message in body["messages"]:
        content = message.get("content")
        for block in [content] if isinstance(content, str) else content or []:
            add(block)
    return blocks


def anthropic_message(state: EmulatorState, body: dict[str, Any], *, batch: bool = False) -> tuple[dict[str, Any], int]:
    model = required_model(body, "model: Field required")
    if not isinstance(body.get("max_tokens"), int):
        raise EmulatedError(400, "max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EmulatedError(400, "messages: at least one message is required")
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            raise EmulatedError(400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
    blocks = _anthropic_blocks(body)
    breakpoints = sum(1 for b in blocks if b.breakpoint_ttl is not None)
    if breakpoints > MAX_BREAKPOINTS:
        raise EmulatedError(
            400, f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
        )
    try:
        minimum = state.pricing.price(model).min_cacheable_tokens
    except ConfigurationError:  # an unknown model still gets an answer, with the default minimum
        minimum = state.config.anthropic_default_min_cacheable_tokens
    account = anthropic_account(state.anthropic_cache, model, blocks, minimum)
    total = sum(b.tokens for b in blocks)
    text, output_tokens, cut = truncate_to_tokens(
        answer_for(state.config, last_user_text(messages), body), int(body["max_tokens"])
    )
    state.anthropic_cache.commit(account.pending)
    written = account.write_5m_tokens + account.write_1h_tokens
    input_tokens = total - account.read_tokens - written
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=account.read_tokens,
        cache_write_5m_tokens=account.write_5m_tokens,
        cache_write_1h_tokens=account.write_1h_tokens,
    )
    state.stats.record_call(
        "messages",
        model,
        usd=_usd(state, model, usage, batch),
        batch=batch,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=account.read_tokens,
        cache_write_tokens=written,
    )
    response = {
        "id": f"msg_emu{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": account.read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": account.write_5m_tokens,
                "ephemeral_1h_input_tokens": account.write_1h_tokens,
            },
            "service_tier": "standard",
        },
    }
    return response, output_tokens


ROUTES: dict[str, tuple[str, ChatHandler]] = {
    "/v1/chat/completions": ("openai", openai_completion),
    "/chat/completions": ("openai", openai_completion),
    "/v1/embeddings": ("openai", openai_embeddings),
    "/embeddings": ("openai", openai_embeddings),
    "/v1/messages": ("anthropic", anthropic_message),
}
