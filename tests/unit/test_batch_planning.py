"""The batch client's pure parts: file-wide dedupe of misses, resume plans, ordered output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmcache.workers.batch.messages import (
    ChunkLine,
    LookupChunk,
    MissInfo,
    MissLine,
    RunSpec,
    encode_vector,
    pack_chunk,
    unpack_chunk,
)
from llmcache.workers.batch.output import OutputWriter
from llmcache.workers.batch.planning import MissPlanner
from llmcache.workers.batch.resume import plan_resume


def miss(key: str, lines: list[int], vector: list[float] | None, context: str = "ctx", **fields: object) -> MissInfo:
    unit = None if vector is None else np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)
    return MissInfo(
        key=key,
        lines=[MissLine(line=n, custom_id=f"c{n}", digest="d") for n in lines],
        context_fp=context,
        text=key,
        vector=encode_vector(unit),
        threshold=0.9 if vector is not None else None,
        namespace="default",
        **fields,
    )


def test_identical_misses_follow_one_leader_across_chunks() -> None:
    planner = MissPlanner()
    leader = planner.place(miss("k1", [1, 2], [1.0, 0.0]))
    assert leader is not None and [m.line for m in leader.followers] == [2]
    assert planner.place(miss("k1", [9], [1.0, 0.0])) is None  # a later chunk's copy
    assert [m.line for m in leader.followers] == [2, 9]
    assert planner.finish("k1") is leader and planner.leader("k1") is None


def test_a_close_miss_in_the_same_context_waits_and_a_far_or_other_context_one_leads() -> None:
    planner = MissPlanner()
    leader = planner.place(miss("k1", [1], [1.0, 0.0]))
    assert leader is not None
    assert planner.place(miss("k2", [2], [0.99, 0.05])) is None  # cosine ~0.9987: waits on k1
    assert [(m.line, round(s, 3)) for m, s in leader.waiting] == [(2, 0.999)]
    assert planner.place(miss("k3", [3], [0.5, 0.5])) is not None  # cosine 0.71: below the floor, leads
    assert planner.place(miss("k4", [4], [1.0, 0.0], context="other")) is not None  # another context
    assert planner.place(miss("k5", [5], [0.99, 0.05], waited=True)) is not None  # waited once already: leads
    assert planner.place(miss("k6", [6], None)) is not None  # no vector (exact-only namespace): leads


def test_a_finished_leader_is_no_longer_waited_on() -> None:
    planner = MissPlanner()
    planner.place(miss("k1", [1], [1.0, 0.0]))
    planner.finish("k1")
    assert planner.place(miss("k2", [2], [0.99, 0.05])) is not None


def test_many_leaders_in_one_context_stay_searchable_after_removals() -> None:
    planner = MissPlanner()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((100, 8))
    for i, vector in enumerate(vectors):
        planner.place(miss(f"k{i}", [i], [float(x) for x in vector]))
    for i in range(0, 100, 2):
        planner.finish(f"k{i}")
    waiting = planner.place(miss("again", [500], [float(x) for x in vectors[51]]))
    assert waiting is None and planner.leader("k51") is not None
    assert [m.line for m, _ in planner.leader("k51").waiting] == [500]  # type: ignore[union-attr]
    assert planner.place(miss("gone", [501], [float(x) for x in vectors[50]])) is not None


def _row(custom_id: str | None, line: int, digest: str, outcome: str, retryable: bool | None = None) -> str:
    meta: dict[str, object] = {"line": line, "digest": digest, "outcome": outcome}
    if retryable is not None:
        meta["retryable"] = retryable
    return json.dumps({"custom_id": custom_id, "llmcache": meta})


def test_resume_keeps_unchanged_answers_and_reruns_edits_retryable_errors_and_partial_lines(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text(
        "\n".join(
            [
                _row("a", 1, "d1", "miss"),
                _row("b", 2, "old", "exact"),  # edited since
                _row("c", 3, "d3", "error", retryable=True),
                _row("d", 4, "d4", "error", retryable=False),
                _row(None, 5, "d5", "error", retryable=False),  # an unparsable line, kept by its number
                _row("gone", 6, "d6", "miss"),  # no longer in the input
            ]
        )
        + '\n{"custom_id": "e", "llm'  # an interrupted write
    )
    current = {"a": "d1", "b": "d2", "c": "d3", "d": "d4", "#line:5": "d5", "e": "d7"}
    plan = plan_resume(output, current, retry_errors=False)
    assert plan.done == {"a", "d", "#line:5"}
    assert (plan.kept, plan.rerun_changed, plan.rerun_errors) == (3, 1, 1)
    assert [json.loads(x)["custom_id"] for x in output.read_text().splitlines()] == ["a", "d", None]
    again = plan_resume(output, current, retry_errors=True)
    assert again.done == {"a"}


def test_ordered_output_waits_for_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with OutputWriter(path, ordered=True, order=[1, 2, 4]) as out:
        out.write(4, "four")
        out.write(2, "two")
        assert out.held == 2
        out.write(1, "one")
        assert out.held == 0
    assert path.read_text().splitlines() == ["one", "two", "four"]


def test_chunks_travel_packed_and_plain_json_chunks_still_read() -> None:
    spec = RunSpec(run_id="r1", key_prefix="p", fmt="openai", max_prompt_chars=100_000)
    system = "You are the support assistant of a product with a very long static prompt. " * 100
    lines = [
        ChunkLine(line=n, custom_id=f"c{n}", digest="d", text=json.dumps({"custom_id": f"c{n}", "system": system}))
        for n in range(1, 65)
    ]
    chunk = LookupChunk(run=spec, chunk_id="l1.0", lines=lines)
    packed = pack_chunk(chunk)
    assert packed.isascii() and len(packed) * 20 < len(chunk.model_dump_json())  # the repeated prompt compresses
    assert unpack_chunk(packed, LookupChunk) == chunk
    assert unpack_chunk(chunk.model_dump_json(), LookupChunk) == chunk  # what a client of an earlier version sends
