"""The same batch file twice, against a real worker process, real Redis and the provider emulator (an emulator, not a
real provider): the second run makes no provider call. Every line the first run answered by a guard judgement (a
semantic hit, or a line that waited on an equivalent leader of the file and then hit its answer) has an alias entry
under its own request key, so the second run finds each line exactly, however the nearest stored question changed
while the first run stored the rest of the file."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from tests.cluster.batch_helpers import answer_text, batch_cluster, by_custom_id, openai_line, run_cli
from tests.cluster.conftest import Cluster

# templated support questions (one slot changes: the guard tells them apart) in greeting/thanks wordings (the same
# question: the guard serves them), the shape of batch work where the nearest stored question moves during a run
TEMPLATES = ["How do I {a} my {o}?", "Can I {a} my {o} from the mobile app?", "Why can't I {a} my {o}?",
             "Who can {a} the {o} for our team?", "What happens when I {a} my {o}?",
             "Where do I go to {a} my {o}?", "Can an admin {a} my {o}?"]  # fmt: skip
ACTIONS = ["reset", "change", "update", "delete", "export", "download", "share", "rename", "archive", "restore"]
OBJECTS = ["password", "invoice", "account", "workspace", "API key", "billing address", "team", "project",
           "subscription", "report", "dashboard", "webhook"]  # fmt: skip
WORDINGS = [("", ""), ("Hi, ", ""), ("", " Thanks!"), ("Hello, ", " Thank you.")]


def worded(question: str, opener: str, closer: str) -> str:
    return f"{opener}{question[0].lower() + question[1:] if opener else question}{closer}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    emulator = RunningEmulator(EmulatorConfig(time_to_first_token_ms=50))
    try:
        with batch_cluster(redis_url, emulator, tmp_path_factory.mktemp("aliases")) as running:
            yield running
    finally:
        emulator.stop()


def test_the_same_file_again_makes_no_provider_call(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    rng = random.Random(7)
    intents = [t.format(a=a, o=o) for t in TEMPLATES for a in ACTIONS for o in OBJECTS]
    texts = {f"line-{i}": worded(rng.choice(intents), *rng.choice(WORDINGS)) for i in range(600)}
    lines = [openai_line(custom_id, text, model, tenant=tenant) for custom_id, text in texts.items()]
    source = tmp_path / "batch.jsonl"
    source.write_text("\n".join(lines) + "\n")

    first_out = tmp_path / "first.jsonl"
    first = run_cli(cluster, str(source), "-o", str(first_out))
    assert first.returncode == 0, first.stderr
    answered = by_custom_id(first_out)  # every custom_id once
    assert len(answered) == 600
    first_calls = cluster.provider_calls(model)
    outcomes = [row["llmcache"]["outcome"] for row in answered.values()]
    assert outcomes.count("miss") == first_calls
    # the file's paraphrases were answered by guard judgements, the aliases' source
    assert outcomes.count("semantic") + outcomes.count("coalesced") > 0

    second_out = tmp_path / "second.jsonl"
    second = run_cli(cluster, str(source), "-o", str(second_out))
    assert second.returncode == 0, second.stderr
    again = by_custom_id(second_out)
    assert sorted(again) == sorted(answered)
    # not one call more (before alias entries, this file's second run made about 20: measured 474 + 20)
    assert cluster.provider_calls(model) == first_calls
    assert {row["llmcache"]["outcome"] for row in again.values()} == {"exact"}
    # each line gets an answer the first run gave its very text: two lines of one text in chunks looked up at the
    # same time may both be judged, and served from two stored paraphrases of it; the first alias written wins
    given: dict[str, set[str]] = {}
    for custom_id, text in texts.items():
        given.setdefault(text, set()).add(answer_text(answered[custom_id]))
    assert all(answer_text(again[c]) in given[texts[c]] for c in answered)
    repeated = [c for c in answered if len(given[texts[c]]) == 1]
    assert repeated and all(answer_text(again[c]) == answer_text(answered[c]) for c in repeated)
    assert "miss 0" in second.stdout
