"""Canonical request keys and context fingerprints: the part that decides correctness.

request key         = sha256 of canonical JSON of everything that can change the answer: provider, model, every
                      generation parameter, system prompt, the full message list, namespace, the namespace's current
                      prompt version and the scope (tenant; user where the namespace is user-scoped).
context fingerprint = the same material without the text of the last user message, plus the embedder's identity
                      (model id, version, dimension). Two requests may share a semantic hit only when their
                      fingerprints are equal.

Canonical JSON: keys sorted, no whitespace, every string NFC-normalised, integral floats written as integers
(temperature 1 == 1.0), string message content written as one text part, Anthropic `cache_control` markers dropped
(they change the bill, not the answer). Never string concatenation.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import unicodedata
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.models import CacheRequest, Message

KEY_SCHEMA = "llmcache-key/1"

# Parameters that are sent to the provider but cannot change the answer's content.
ANSWER_NEUTRAL_PARAMS = frozenset(
    {
        "user",
        "metadata",
        "stream",
        "stream_options",
        "prompt_cache_key",
        "prompt_cache_retention",
        "store",
        "service_tier",
        "safety_identifier",
        "timeout",
        "extra_headers",
        "extra_query",
    }
)
_DROPPED_PART_FIELDS = frozenset({"cache_control"})


def canonical(value: Any, path: str = "request") -> Any:
    """A JSON-ready copy of `value` in canonical form; raises InvalidRequestError naming the bad field."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError(path, f"non-finite number {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequestError(path, f"non-string key {key!r}")
            normal_key = unicodedata.normalize("NFC", key)
            if normal_key in out:
                raise InvalidRequestError(path, f"two keys normalise to {normal_key!r}")
            out[normal_key] = canonical(item, f"{path}.{normal_key}")
        return out
    if isinstance(value, list | tuple):
        return [canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise InvalidRequestError(path, f"unsupported type {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _digest(material: Any) -> str:
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


def _content_parts(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [
        {k: v for k, v in part.items() if k not in _DROPPED_PART_FIELDS} if isinstance(part, dict) else part
        for part in content
    ]


def _message_material(message: Message, drop_text: bool = False) -> dict[str, Any]:
    material = message.model_dump(exclude_none=True)
    parts = _content_parts(message.content)
    if drop_text:
        parts = [p for p in parts if not (isinstance(p, dict) and p.get("type") == "text")]
    material["content"] = parts
    return material


def last_user_index(request: CacheRequest) -> int | None:
    for index in range(len(request.messages) - 1, -1, -1):
        if request.messages[index].role == "user":
            return index
    return None


def semantic_text(request: CacheRequest) -> str | None:
    """The text of the last user message: what the semantic index embeds. None when there is none."""
    index = last_user_index(request)
    if index is None:
        return None
    texts = [
        str(part["text"])
        for part in _content_parts(request.messages[index].content)
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
    ]
    text = unicodedata.normalize("NFC", "\n".join(texts)).strip()
    return text or None


@dataclass(frozen=True)
class RequestKeys:
    request_key: str
    context_fp: str | None  # None: no user message, so no semantic matching
    version: str
    tenant: str
    user: str | None


def _base_material(request: CacheRequest, version: str, user_scoped: bool) -> dict[str, Any]:
    params = {k: v for k, v in request.params.items() if k not in ANSWER_NEUTRAL_PARAMS}
    if user_scoped and not request.scope.user:
        raise InvalidRequestError("scope.user", f"namespace {request.namespace!r} is user-scoped: a user is required")
    return {
        "schema": KEY_SCHEMA,
        "provider": request.provider,
        "model": request.model,
        "params": params,
        "system": _content_parts(request.system),
        "namespace": request.namespace,
        "version": version,
        "scope": {"tenant": request.scope.tenant, "user": request.scope.user if user_scoped else None},
    }


def embedder_identity(embedder: object) -> str:
    """Which vector space a vector lives in: the embedder's model id, its version (`model_version` where the
    embedder has one: a weights checksum, a package version) and its dimension. Two models of the same dimension
    produce vectors that compare without error and mean nothing to each other, so this goes into the context
    fingerprint and the point payload."""
    name = str(getattr(embedder, "model_name", type(embedder).__name__))
    version = str(getattr(embedder, "model_version", "unversioned"))
    return f"{name}@{version}/{getattr(embedder, 'dimension', '?')}"


def compute_keys_plain(request: CacheRequest, version: str, user_scoped: bool, embedder_id: str = "") -> RequestKeys:
    """The reference definition of the keys: one canonical JSON document per key, built and hashed whole.
    `compute_keys` gives byte-identical keys faster; this one is what the tests compare it with."""
    base = _base_material(request, version, user_scoped)
    full = {**base, "messages": [_message_material(m) for m in request.messages]}
    slot = last_user_index(request)
    context_fp: str | None = None
    if slot is not None:
        context_messages = [_message_material(m, drop_text=(i == slot)) for i, m in enumerate(request.messages)]
        material = {**base, "kind": "context", "semantic_slot": slot, "messages": context_messages}
        context_fp = _digest(material | ({"embedder": embedder_id} if embedder_id else {}))
    return RequestKeys(
        request_key=_digest(full),
        context_fp=context_fp,
        version=version,
        tenant=request.scope.tenant,
        user=request.scope.user if user_scoped else None,
    )


# The fast path. A batch file repeats one long static system message on every line; canonicalising and encoding
# it twice a line was most of a warm exact hit's cost. `canonical_json` of a dict with sorted keys is
# "{" + the sorted `"key":value` pairs joined by "," + "}", each value encoded exactly as it would be nested, so
# the document can be assembled from separately encoded parts, and a long message's part memoised by its content.
# The digest is fed the same bytes in the same order; the hash state after a memoised leading message is memoised
# too. Keys are byte-identical to `compute_keys_plain` (tests/unit/test_keys.py compares them).
_MEMO_MIN_CHARS = 256  # shorter texts cost less to encode than to look up
_MEMO_ENTRIES = 64  # distinct long texts kept (a batch file has a handful of system prompts)


class _BoundedMemo(dict[Any, Any]):
    """A dict that forgets its oldest entry beyond `limit` entries (insertion order)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._lock = threading.Lock()

    def put(self, key: Any, value: Any) -> Any:
        with self._lock:  # a worker's threads key lines at once: two evicting the same oldest entry must not race
            while len(self) >= self.limit:
                self.pop(next(iter(self)), None)
            self[key] = value
        return value


_message_json_memo = _BoundedMemo(_MEMO_ENTRIES)
_system_json_memo = _BoundedMemo(_MEMO_ENTRIES)
_prefix_hash_memo = _BoundedMemo(_MEMO_ENTRIES)


# json.dumps with these options, without building an encoder per call
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _encode_str(value: str) -> str:
    """What `_ENCODER.encode` gives for a string (with ensure_ascii off it is this very function), NFC first."""
    return encode_basestring(unicodedata.normalize("NFC", value))


def _encode_at(value: Any, path: str) -> str:
    if isinstance(value, str):
        return _encode_str(value)
    return _ENCODER.encode(canonical(value, path))


_SCALARS = (str, int, float, bool, type(None))
_params_json_memo = _BoundedMemo(_MEMO_ENTRIES)


def _params_json(params: dict[str, Any]) -> str:
    """A batch file's lines share a few flat parameter sets: memoised by their items (with the value's type, as
    1, 1.0 and True are equal keys that encode differently). Nested values are encoded each time."""
    if not all(type(v) in _SCALARS for v in params.values()):
        return _encode_at(params, "request.params")
    key = tuple((k, type(v), v) for k, v in params.items())
    found = _params_json_memo.get(key)
    if found is None:
        found = _params_json_memo.put(key, _encode_at(params, "request.params"))
    return str(found)


def _scope_json(tenant: str, user: str | None) -> str:
    """canonical_json of {"tenant": tenant, "user": user}."""
    return '{"tenant":' + _encode_str(tenant) + ',"user":' + ("null" if user is None else _encode_str(user)) + "}"


def _memo_key(message: Message) -> tuple[str, str] | None:
    """A message whose whole answer-relevant content is its role and one long string."""
    content = message.content
    if (
        isinstance(content, str)
        and len(content) >= _MEMO_MIN_CHARS
        and message.name is None
        and message.tool_calls is None
        and message.tool_call_id is None
    ):
        return (message.role, content)
    return None


def _plain_message_json(message: Message, drop_text: bool) -> str | None:
    """canonical_json of the material of a message that is a role and a string: {"content": [one text part] (none
    with `drop_text`), "role": role}. None for any other message."""
    content = message.content
    if not isinstance(content, str) or message.name is not None or message.tool_calls is not None:
        return None
    if message.tool_call_id is not None:
        return None
    parts = "[]" if drop_text else '[{"text":' + _encode_str(content) + ',"type":"text"}]'
    return '{"content":' + parts + ',"role":' + _encode_str(message.role) + "}"


def _message_json(message: Message, path: str, drop_text: bool = False) -> str:
    key = None if drop_text else _memo_key(message)
    if key is None:
        plain = _plain_message_json(message, drop_text)
        return plain if plain is not None else _encode_at(_message_material(message, drop_text), path)
    found = _message_json_memo.get(key)
    if found is None:
        found = _message_json_memo.put(key, _encode_at(_message_material(message), path))
    return str(found)


def _system_json(system: str | list[Any] | None) -> str:
    if not isinstance(system, str) or len(system) < _MEMO_MIN_CHARS:
        return _encode_at(_content_parts(system), "request.system")
    found = _system_json_memo.get(system)
    if found is None:
        found = _system_json_memo.put(system, _encode_at(_content_parts(system), "request.system"))
    return str(found)


_MEMBERS: dict[str, str] = {}


def _member(name: str) -> str:
    found = _MEMBERS.get(name)
    if found is None:
        found = _MEMBERS[name] = _ENCODER.encode(name) + ":"
    return found


_MESSAGES_MEMBER = _member("messages")
_KEY_SCHEMA_JSON = _encode_str(KEY_SCHEMA)
_CONTEXT_JSON = _encode_str("context")
_Layout = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
_LAYOUTS: dict[tuple[str, ...], _Layout] = {}


def _layout(names: tuple[str, ...]) -> _Layout:
    """The members (name, encoded `"name":`) sorted before and after "messages": a handful of name sets ever."""
    found = _LAYOUTS.get(names)
    if found is None:
        ordered = sorted([*names, "messages"])
        cut = ordered.index("messages")
        found = _LAYOUTS[names] = (
            tuple((n, _member(n)) for n in ordered[:cut]),
            tuple((n, _member(n)) for n in ordered[cut + 1 :]),
        )
    return found


def _fast_digest(parts: dict[str, str], messages: list[str], lead: tuple[str, str] | None) -> str:
    """sha256 of the canonical JSON of an object whose members are `parts` (encoded values) plus "messages"
    (`messages`: encoded messages). `lead`: the first message's memo key, when it has one."""
    before, after = _layout(tuple(parts))
    head = "{" + "".join([member + parts[name] + "," for name, member in before]) + _MESSAGES_MEMBER
    tail = "]" + "".join(["," + member + parts[name] for name, member in after]) + "}"
    if lead is None:
        return hashlib.sha256((head + "[" + ",".join(messages) + tail).encode("utf-8")).hexdigest()
    memo_key = (head, lead, len(messages) > 1)
    state = _prefix_hash_memo.get(memo_key)
    if state is None:
        state = hashlib.sha256((head + "[" + messages[0] + ("," if len(messages) > 1 else "")).encode("utf-8"))
        _prefix_hash_memo.put(memo_key, state)
    hasher = state.copy()
    hasher.update((",".join(messages[1:]) + tail).encode("utf-8"))
    return str(hasher.hexdigest())


def compute_keys(request: CacheRequest, version: str, user_scoped: bool, embedder_id: str = "") -> RequestKeys:
    """`embedder_id` (`embedder_identity`) goes into the context fingerprint only: an exact hit does not depend on
    the embedder, a semantic one must never compare vectors of two models.

    The same keys as `compute_keys_plain`, with long messages and system prompts encoded once per distinct text."""
    params = {k: v for k, v in request.params.items() if k not in ANSWER_NEUTRAL_PARAMS}
    if user_scoped and not request.scope.user:
        raise InvalidRequestError("scope.user", f"namespace {request.namespace!r} is user-scoped: a user is required")
    base = {
        "schema": _KEY_SCHEMA_JSON,
        "provider": _encode_str(request.provider),
        "model": _encode_str(request.model),
        "params": _params_json(params),
        "system": _system_json(request.system),
        "namespace": _encode_str(request.namespace),
        "version": _encode_str(version),
        "scope": _scope_json(request.scope.tenant, request.scope.user if user_scoped else None),
    }
    messages = request.messages
    lead = _memo_key(messages[0])
    encoded = [_message_json(m, f"request.messages[{i}]") for i, m in enumerate(messages)]
    slot = last_user_index(request)
    context_fp: str | None = None
    if slot is not None:
        context_messages = list(encoded)
        context_messages[slot] = _message_json(messages[slot], f"request.messages[{slot}]", drop_text=True)
        context = {**base, "kind": _CONTEXT_JSON, "semantic_slot": str(slot)}
        if embedder_id:
            context["embedder"] = _encode_str(embedder_id)
        context_fp = _fast_digest(context, context_messages, lead if slot != 0 else None)
    return RequestKeys(
        request_key=_fast_digest(base, encoded, lead),
        context_fp=context_fp,
        version=version,
        tenant=request.scope.tenant,
        user=request.scope.user if user_scoped else None,
    )
