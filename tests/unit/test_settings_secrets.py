"""API keys are `SecretStr`: no repr, dump, JSON or log line shows them; only the client builders read them.
The prompt linter logs the rule and where it fired, never the flagged text (an e-mail address, say)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
import structlog
from pydantic import SecretStr

from llmcache.shared.config import load_settings
from llmcache.shared.logging import configure_logging
from llmcache.shared.models import CacheRequest
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.lint import PromptLintReporter, lint_prefix_text

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
QDRANT_KEY = "qdrant-test-key-0123456789"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCACHE_PROVIDERS__OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.delenv("LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)  # the provider's own variable is honoured too
    monkeypatch.setenv("LLMCACHE_QDRANT__API_KEY", QDRANT_KEY)


def _renderings(value: object) -> list[str]:
    return [repr(value), str(value), f"{value}"]


@pytest.mark.usefixtures("secret_env")
def test_api_keys_are_secret_and_never_in_repr_dumps_or_json() -> None:
    settings = load_settings()
    providers = settings.providers
    assert isinstance(providers.openai_api_key, SecretStr)
    assert isinstance(providers.anthropic_api_key, SecretStr)
    assert isinstance(settings.qdrant.api_key, SecretStr)
    assert providers.openai_api_key.get_secret_value() == OPENAI_KEY
    assert providers.anthropic_api_key.get_secret_value() == ANTHROPIC_KEY
    assert settings.qdrant.api_key.get_secret_value() == QDRANT_KEY
    shown = [
        *_renderings(settings),
        *_renderings(providers),
        *_renderings(settings.qdrant),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
        str(settings.model_dump()),
    ]
    for text in shown:
        for key in (OPENAI_KEY, ANTHROPIC_KEY, QDRANT_KEY):
            assert key not in text
    assert "**********" in settings.model_dump_json()


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("secret_env", "restore_structlog")
@pytest.mark.parametrize("json_output", [True, False])
def test_a_logged_settings_object_shows_no_key(json_output: bool, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    configure_logging(json_output=json_output, level="INFO")  # the workers' own set-up
    structlog.get_logger("test").info("settings_loaded", settings=settings, providers=settings.providers)
    err = capsys.readouterr().err
    assert "settings_loaded" in err and "**********" in err
    assert OPENAI_KEY not in err and ANTHROPIC_KEY not in err and QDRANT_KEY not in err


def test_unset_keys_stay_none(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLMCACHE_PROVIDERS__OPENAI_API_KEY", "LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    providers = load_settings().providers
    assert providers.openai_api_key is None and providers.anthropic_api_key is None


@pytest.mark.usefixtures("secret_env")
def test_the_sdk_clients_get_the_real_key() -> None:
    settings = load_settings()
    client = redis.Redis.from_url("redis://127.0.0.1:1/0")  # never connected: building providers talks to nothing
    try:
        built = build_providers(settings, client)
    finally:
        client.close()
    assert built["openai"]._client.api_key == OPENAI_KEY  # type: ignore[attr-defined]
    assert built["anthropic"]._client.api_key == ANTHROPIC_KEY  # type: ignore[attr-defined]


def test_prompt_linter_logs_rule_and_position_but_not_the_flagged_text() -> None:
    email = "jane.doe@example.com"
    system = f"You are Acme's assistant. The user is {email}."
    request = CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "namespace": "lint-secrets-test",
            "system": system,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    with structlog.testing.capture_logs() as logs:
        findings = PromptLintReporter().check(request)
    assert [f.code for f in findings] == ["email"]
    lint_logs = [entry for entry in logs if entry["event"] == "prompt_cache_lint"]
    assert len(lint_logs) == 1
    entry = lint_logs[0]
    assert email not in json.dumps(entry, default=str)
    offset = system.index(email)
    assert (entry["code"], entry["where"], entry["offset"], entry["length"]) == ("email", "system", offset, len(email))
    assert entry["log_level"] == "warning"


def test_lint_finding_length_spans_the_match() -> None:
    text = "Generated at 2026-11-26T10:15:00Z."
    (finding,) = lint_prefix_text(text)
    assert text[finding.offset : finding.offset + finding.length] == "2026-11-26T10:15:00Z"
    assert "2026" not in json.dumps(finding.log_fields())
