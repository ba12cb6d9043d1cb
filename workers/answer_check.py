"""Checks a batch's results against an answer book (question -> the one right answer): every served answer, fresh
or from the cache, must be the book's answer to the line's own question. `make run` prints the count of wrong ones
when the emulator, which answers from the same book, stands in for the provider."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel


class AnswerCheck(BaseModel):
    checked: int
    wrong: int
    wrong_ids: list[str]


def normalise_question(text: str) -> str:
    return " ".join(text.lower().split())


def load_answer_book(path: Path) -> dict[str, str]:
    book: dict[str, str] = json.loads(path.read_text())["answer_book"]
    return {normalise_question(question): answer for question, answer in book.items()}


def check_answers(batch: Path, results: Path, book: dict[str, str]) -> AnswerCheck:
    questions: dict[str, str] = {}
    for line in batch.read_text().splitlines():
        if line.strip():
            request = json.loads(line)
            questions[request["custom_id"]] = request["body"]["messages"][-1]["content"]
    checked, wrong_ids = 0, []
    for line in results.read_text().splitlines():
        if not line.strip():
            continue
        result = json.loads(line)
        expected = book.get(normalise_question(questions.get(result["custom_id"], "")))
        body = (result.get("response") or {}).get("body") or {}
        if expected is None or not body.get("choices"):
            continue
        checked += 1
        if body["choices"][0]["message"]["content"] != expected:
            wrong_ids.append(result["custom_id"])
    return AnswerCheck(checked=checked, wrong=len(wrong_ids), wrong_ids=wrong_ids)
