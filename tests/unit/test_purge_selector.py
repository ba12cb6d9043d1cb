"""PurgeSelector holds the purge rule: exactly one selection; version only with namespace, user only with tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from llmcache.shared.models import PurgeSelector


@pytest.mark.parametrize(
    "fields",
    [
        {"ids": ["a", "b"]},
        {"tenant": "acme"},
        {"tenant": "acme", "user": "jane"},
        {"namespace": "faq"},
        {"namespace": "faq", "version": "2"},
        {"older_than": datetime(2026, 1, 1, tzinfo=UTC)},
    ],
)
def test_one_selection_is_accepted_and_survives_the_task_round_trip(fields: dict[str, object]) -> None:
    selector = PurgeSelector.model_validate(fields)
    assert PurgeSelector.model_validate(selector.model_dump(mode="json")) == selector


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "selector", "selector: give exactly one of ids, tenant, namespace or older_than"),
        (
            {"tenant": "acme", "namespace": "faq"},
            "selector",
            "selector: give exactly one of ids, tenant, namespace or older_than (given: tenant, namespace)",
        ),
        ({"ids": ["a"], "version": "1"}, "version", "version: goes with namespace"),
        ({"namespace": "faq", "user": "jane"}, "user", "user: goes with tenant"),
    ],
)
def test_an_invalid_selection_names_the_field(fields: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PurgeSelector.model_validate(fields)
    (error,) = raised.value.errors()
    assert error["type"] == "purge_selector"
    assert error["msg"] == message
    assert error.get("ctx", {})["field"] == field
