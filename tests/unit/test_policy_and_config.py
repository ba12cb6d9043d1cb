from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmcache.shared.config import Settings, load_settings
from llmcache.shared.errors import ConfigurationError
from llmcache.shared.policy import DAY, HOUR, NamespacePolicy, seed_policies


def test_seed_policies_follow_the_design_table() -> None:
    seed = seed_policies()
    assert 7 * DAY <= seed["faq"].ttl_seconds <= 30 * DAY
    assert seed["pricing"].ttl_seconds == DAY
    assert HOUR <= seed["news"].ttl_seconds <= 4 * HOUR
    assert DAY <= seed["code"].ttl_seconds <= 3 * DAY
    assert seed["user"].never_store and seed["user"].user_scoped and not seed["user"].semantic


def test_env_overrides_one_namespace_and_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCACHE_NAMESPACES__FAQ__TTL_SECONDS", "600")
    monkeypatch.setenv("LLMCACHE_NAMESPACES__LEGAL__SIMILARITY_THRESHOLD", "0.97")
    monkeypatch.setenv("LLMCACHE_QDRANT__COLLECTION", "answers")
    settings = Settings()
    assert settings.namespaces["faq"].ttl_seconds == 600
    assert settings.namespaces["faq"].prompt_cache_ttl == seed_policies()["faq"].prompt_cache_ttl  # the rest kept
    assert settings.namespaces["legal"].similarity_threshold == 0.97
    assert settings.namespaces["news"] == seed_policies()["news"]
    assert settings.qdrant.collection == "answers"


def test_qdrant_url_selects_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://qdrant:6333")
    assert load_settings().qdrant.url == "http://qdrant:6333"


def test_bad_policy_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCACHE_NAMESPACES__FAQ__SIMILARITY_THRESHOLD", "1.5")
    with pytest.raises(ValidationError, match="similarity_threshold"):
        Settings()
    with pytest.raises(ValidationError, match="ttl_seconds"):
        NamespacePolicy(ttl_seconds=0)


def test_unknown_namespace_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="'nope' has no policy"):
        Settings().policy("nope")


def test_policy_file_sits_between_seed_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policies.json").write_text('{"faq": {"similarity_threshold": 0.77}, "legal": {"semantic": false}}')
    settings = Settings(data_dir=tmp_path)
    assert settings.namespaces["faq"].similarity_threshold == 0.77
    assert settings.namespaces["faq"].ttl_seconds == seed_policies()["faq"].ttl_seconds
    assert settings.namespaces["legal"].semantic is False
    monkeypatch.setenv("LLMCACHE_NAMESPACES__FAQ__SIMILARITY_THRESHOLD", "0.9")
    assert Settings(data_dir=tmp_path).namespaces["faq"].similarity_threshold == 0.9


def test_bad_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "policies.json").write_text('{"faq": {"similarity_threshold": 7}}')
    with pytest.raises(ConfigurationError, match=r"policies\.json"):
        Settings(data_dir=tmp_path)
