"""Canonical keys: equivalent requests share a key; anything that can change the answer changes it."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.models import CacheRequest, Message, Scope
from llmcache.shared.request_keys import canonical_json, compute_keys, compute_keys_plain, semantic_text

texts = st.text(min_size=1, max_size=40)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(-10, 10, allow_nan=False) | texts
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
param_names = st.sampled_from(
    ["temperature", "max_tokens", "top_p", "stop", "seed", "tools", "tool_choice", "response_format", "reasoning"]
)


@st.composite
def requests(draw: st.DrawFn) -> CacheRequest:
    history = draw(st.lists(st.tuples(st.sampled_from(["user", "assistant"]), texts), max_size=3))
    messages = [Message(role=role, content=text) for role, text in history]
    messages.append(Message(role="user", content=draw(texts)))
    return CacheRequest(
        provider=draw(st.sampled_from(["openai", "anthropic"])),
        model=draw(st.sampled_from(["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5"])),
        messages=messages,
        system=draw(st.none() | texts),
        params=draw(st.dictionaries(param_names, json_values, max_size=4)),
        namespace=draw(st.sampled_from(["default", "faq", "code"])),
        scope=Scope(tenant=draw(st.sampled_from(["acme", "globex"]))),
    )


def keys(request: CacheRequest, version: str = "1", user_scoped: bool = False) -> tuple[str, str | None]:
    computed = compute_keys(request, version, user_scoped)
    return computed.request_key, computed.context_fp


def _shuffle_dict_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shuffle_dict_order(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_shuffle_dict_order(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(requests())
def test_key_order_and_json_whitespace_do_not_change_the_key(request: CacheRequest) -> None:
    reordered = CacheRequest.model_validate(_shuffle_dict_order(request.model_dump()))
    spaced = CacheRequest.model_validate(json.loads(json.dumps(request.model_dump(), indent=4)))
    assert keys(reordered) == keys(request) == keys(spaced)


@settings(max_examples=100, deadline=None)
@given(requests())
def test_nfc_and_nfd_text_give_the_same_key(request: CacheRequest) -> None:
    decomposed = request.model_copy(
        update={
            "messages": [
                m.model_copy(update={"content": unicodedata.normalize("NFD", str(m.content))}) for m in request.messages
            ]
        }
    )
    assert keys(decomposed) == keys(request)


def _variants(request: CacheRequest, data: st.DataObject) -> list[tuple[str, CacheRequest | str]]:
    """Each variant changes one answer-changing part of the request."""
    other_param = data.draw(param_names)
    new_value = data.draw(json_values.filter(lambda v: v != request.params.get(other_param)))
    history = [Message(role="user", content="earlier question"), Message(role="assistant", content="earlier answer")]
    return [
        ("model", request.model_copy(update={"model": request.model + "-2025"})),
        (
            "provider",
            request.model_copy(update={"provider": "anthropic" if request.provider == "openai" else "openai"}),
        ),
        ("param", request.model_copy(update={"params": {**request.params, other_param: new_value}})),
        ("system", request.model_copy(update={"system": f"{request.system or ''} Be brief."})),
        ("history", request.model_copy(update={"messages": history + list(request.messages)})),
        ("namespace", request.model_copy(update={"namespace": "news" if request.namespace != "news" else "faq"})),
        ("scope", request.model_copy(update={"scope": Scope(tenant=request.scope.tenant + "-x")})),
        ("version", "2"),
    ]


@settings(max_examples=100, deadline=None)
@given(requests(), st.data())
def test_any_answer_changing_field_changes_key_and_context(request: CacheRequest, data: st.DataObject) -> None:
    base_key, base_context = keys(request)
    for name, variant in _variants(request, data):
        key, context = keys(request, version=variant) if isinstance(variant, str) else keys(variant)
        if name == "param" and canonical_json(variant.params) == canonical_json(request.params):  # type: ignore[union-attr]
            continue  # e.g. 1 -> 1.0: the same canonical value, rightly the same key
        assert key != base_key, name
        assert context != base_context, name


@settings(max_examples=100, deadline=None)
@given(requests(), texts)
def test_last_user_text_changes_the_key_but_not_the_context(request: CacheRequest, new_text: str) -> None:
    changed = request.model_copy(update={"messages": [*request.messages[:-1], Message(role="user", content=new_text)]})
    if unicodedata.normalize("NFC", new_text) == unicodedata.normalize("NFC", str(request.messages[-1].content)):
        return
    assert keys(changed)[0] != keys(request)[0]
    assert keys(changed)[1] == keys(request)[1]


def _request(**changes: Any) -> CacheRequest:
    base: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "How do I reset my password?"}],
    }
    return CacheRequest.model_validate({**base, **changes})


def test_user_scope_counts_only_in_user_scoped_namespaces() -> None:
    alice = _request(scope={"tenant": "acme", "user": "alice"})
    bob = _request(scope={"tenant": "acme", "user": "bob"})
    assert keys(alice, user_scoped=False) == keys(bob, user_scoped=False)
    assert keys(alice, user_scoped=True)[0] != keys(bob, user_scoped=True)[0]
    assert keys(alice, user_scoped=True)[1] != keys(bob, user_scoped=True)[1]


def test_user_scoped_namespace_requires_a_user() -> None:
    with pytest.raises(InvalidRequestError, match=r"scope\.user"):
        compute_keys(_request(), "1", user_scoped=True)


def test_string_content_equals_a_single_text_part_and_cache_control_is_ignored() -> None:
    plain = _request()
    parts = _request(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "How do I reset my password?", "cache_control": {"type": "ephemeral"}}
                ],
            }
        ]
    )
    assert keys(plain) == keys(parts)


def test_integral_floats_are_canonical_but_real_changes_are_not() -> None:
    assert keys(_request(params={"temperature": 1})) == keys(_request(params={"temperature": 1.0}))
    assert keys(_request(params={"temperature": 0.7})) != keys(_request(params={"temperature": 0.70001}))


def test_answer_neutral_params_do_not_split_the_cache() -> None:
    assert keys(_request(params={"user": "u1", "metadata": {"run": 1}, "stream": True})) == keys(_request())


def test_a_conversation_without_a_user_message_has_no_context_fingerprint() -> None:
    request = _request(messages=[{"role": "assistant", "content": "Hello"}])
    assert keys(request)[1] is None
    assert semantic_text(request) is None


def test_non_finite_numbers_are_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidRequestError, match=r"request\.temperature"):
        canonical_json({"temperature": float("nan")})


def test_semantic_text_is_the_last_user_message() -> None:
    request = _request(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {}}]},
        ]
    )
    assert semantic_text(request) == "second"


# The fast path (`compute_keys`: long messages and system prompts encoded once per distinct text, the hash state
# after a long leading message reused) against the reference (`compute_keys_plain`: one document hashed whole).
LONG_SYSTEMS = [
    "You are the support assistant of Acme Cloud. Answer plainly. " * 12,
    "Tu es l'assistant du support. Réponds en deux phrases, sans jargon. " * 10,
    "Cafe\u0301 au lait, naïve résumé: NFD text that normalises. " * 9,
]
long_texts = st.sampled_from(LONG_SYSTEMS) | st.text(min_size=256, max_size=400)
any_texts = texts | long_texts
part_lists = st.lists(
    st.fixed_dictionaries(
        {"type": st.just("text"), "text": any_texts},
        optional={"cache_control": st.just({"type": "ephemeral"})},
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def varied_requests(draw: st.DrawFn) -> CacheRequest:
    messages: list[Message] = []
    if draw(st.booleans()):
        messages.append(Message(role="system", content=draw(long_texts | part_lists)))
    for role, content in draw(
        st.lists(st.tuples(st.sampled_from(["user", "assistant", "tool"]), any_texts | part_lists), max_size=3)
    ):
        extra: dict[str, Any] = {}
        if role == "tool":
            extra["tool_call_id"] = draw(st.sampled_from(["call_1", "call_2"]))
        elif role == "assistant" and draw(st.booleans()):
            extra["name"] = "helper"
        messages.append(Message(role=role, content=content, **extra))
    if not messages or draw(st.booleans()):
        messages.append(Message(role="user", content=draw(any_texts | part_lists)))
    return CacheRequest(
        provider=draw(st.sampled_from(["openai", "anthropic"])),
        model=draw(st.sampled_from(["gpt-4o-mini", "claude-sonnet-4-5"])),
        messages=messages,
        system=draw(st.none() | any_texts | part_lists),
        params=draw(st.dictionaries(param_names | st.sampled_from(["user", "metadata"]), json_values, max_size=4)),
        namespace=draw(st.sampled_from(["default", "faq"])),
        scope=Scope(tenant=draw(st.sampled_from(["acme", "globex"])), user=draw(st.none() | st.just("u1"))),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(varied_requests(), min_size=1, max_size=4), st.sampled_from(["", "minilm@abc/384"]), st.booleans())
def test_fast_keys_are_identical_to_the_plain_definition(
    batch: list[CacheRequest], embedder_id: str, user_scoped: bool
) -> None:
    for request in [*batch, *batch]:  # twice: the second pass is served from the memos
        if user_scoped and not request.scope.user:
            with pytest.raises(InvalidRequestError) as fast_error:
                compute_keys(request, "3", user_scoped, embedder_id)
            with pytest.raises(InvalidRequestError) as plain_error:
                compute_keys_plain(request, "3", user_scoped, embedder_id)
            assert str(fast_error.value) == str(plain_error.value)
            continue
        assert compute_keys(request, "3", user_scoped, embedder_id) == compute_keys_plain(
            request, "3", user_scoped, embedder_id
        )


def test_fast_keys_refuse_bad_fields_like_the_plain_definition() -> None:
    for bad in (
        _request(params={"temperature": float("inf")}),
        _request(
            messages=[
                Message(role="system", content=LONG_SYSTEMS[0]),
                Message(role="user", content=[{"type": "text", "text": float("nan")}]),
            ]
        ),
    ):
        with pytest.raises(InvalidRequestError) as fast_error:
            compute_keys(bad, "1", False)
        with pytest.raises(InvalidRequestError) as plain_error:
            compute_keys_plain(bad, "1", False)
        assert str(fast_error.value) == str(plain_error.value)


def test_memoised_params_tell_equal_values_of_other_types_apart() -> None:
    # 1, 1.0 and True are equal dict keys; the first encodes like the second, not like the third
    keys = [compute_keys(_request(params={"seed": value}), "1", False) for value in (1, True, 1.0, False, 0)]
    assert keys == [
        compute_keys_plain(_request(params={"seed": value}), "1", False) for value in (1, True, 1.0, False, 0)
    ]
    assert keys[0].request_key == keys[2].request_key != keys[1].request_key


def test_memoised_keys_stay_right_when_threads_evict_at_once() -> None:
    """Many more distinct long system prompts and parameter sets than the memos hold, keyed from 8 threads at once
    (a worker's pool): every key equals the reference, none fails on a racing eviction."""
    from concurrent.futures import ThreadPoolExecutor

    requests = [
        _request(
            messages=[
                {"role": "system", "content": f"You are assistant {n}. " + "Answer briefly and politely. " * 20},
                {"role": "user", "content": f"Question {n % 7}?"},
            ],
            params={"seed": n, "max_tokens": 64},
        )
        for n in range(600)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda request: compute_keys(request, "1", False), requests))
    assert found == [compute_keys_plain(request, "1", False) for request in requests]
