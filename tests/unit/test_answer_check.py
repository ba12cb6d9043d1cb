"""The demo's answer check: a served answer must be the book's answer to the line's own question."""

from __future__ import annotations

import json
from pathlib import Path

from llmcache.workers.answer_check import check_answers, load_answer_book


def _line(custom_id: str, question: str) -> dict[str, object]:
    return {"custom_id": custom_id, "body": {"messages": [{"role": "system", "content": "s"},
                                                         {"role": "user", "content": question}]}}  # fmt: skip


def _result(custom_id: str, answer: str | None) -> dict[str, object]:
    if answer is None:
        return {"custom_id": custom_id, "response": None, "error": {"message": "failed"}}
    return {"custom_id": custom_id, "response": {"body": {"choices": [{"message": {"content": answer}}]}}}


def test_wrong_and_unknown_answers(tmp_path: Path) -> None:
    book_path = tmp_path / "book.json"
    book_path.write_text(json.dumps({"answer_book": {"How do I pay?": "By card.", "How do I  LEAVE?": "Cancel."}}))
    batch, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        _line("1", "how do i pay?"),
        _line("2", "How do I leave?"),
        _line("3", "Unknown?"),
        _line("4", "How do I pay?"),
    ]
    batch.write_text("".join(json.dumps(x) + "\n" for x in lines))
    served = [_result("1", "By card."), _result("2", "By card."), _result("3", "Whatever."), _result("4", None)]
    results.write_text("".join(json.dumps(x) + "\n" for x in served))
    check = check_answers(batch, results, load_answer_book(book_path))
    assert (check.checked, check.wrong, check.wrong_ids) == (2, 1, ["2"])  # 3 has no book entry, 4 no answer
