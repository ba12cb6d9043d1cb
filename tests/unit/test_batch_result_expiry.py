"""Results never stay in Redis for days: the default expiry is short, and a longer setting is capped."""

from __future__ import annotations

from llmcache.shared.config import Settings, WorkerSettings
from llmcache.workers.app import RESULT_EXPIRES_MAX_SECONDS, create_app


def test_the_default_result_expiry_is_at_most_an_hour() -> None:
    assert WorkerSettings().result_expires_seconds <= RESULT_EXPIRES_MAX_SECONDS <= 3600
    app = create_app(Settings())
    assert app.conf.result_expires <= 3600
    assert app.conf.result_extended is False


def test_a_longer_expiry_is_capped() -> None:
    settings = Settings(workers=WorkerSettings(result_expires_seconds=7 * 24 * 3600))
    assert create_app(settings).conf.result_expires == RESULT_EXPIRES_MAX_SECONDS
