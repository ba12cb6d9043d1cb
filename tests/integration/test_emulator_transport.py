"""The emulator in-process through an httpx transport (an emulator, not a real provider): the real SDKs reach it
with no port; chat and batch endpoints alike."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import openai

from llmcache.testing.emulator.transport import EmulatorTransport


def test_openai_chat_and_batch_through_the_transport() -> None:
    transport = EmulatorTransport()
    client = openai.OpenAI(
        api_key="emulator-key", base_url="http://emulator/v1", http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )  # fmt: skip
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi?"}])
    assert reply.choices[0].message.content and reply.system_fingerprint == "fp_llmcache_emulator"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello?"}]}
    line = {"custom_id": "one", "method": "POST", "url": "/v1/chat/completions", "body": body}
    uploaded = client.files.create(file=("in.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.output_file_id is not None
    assert json.loads(client.files.content(done.output_file_id).text)["custom_id"] == "one"
    assert transport.stats()["by_endpoint"] == {"chat.completions": 1, "batch:chat.completions": 1}


def test_anthropic_results_url_and_auth_through_the_transport() -> None:
    transport = EmulatorTransport()
    http = httpx2.Client(transport=transport)
    client = anthropic.Anthropic(api_key="emulator-key", base_url="http://emulator", http_client=http, max_retries=0)
    params: Any = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi?"}]}
    created = client.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
    assert client.messages.batches.retrieve(created.id).results_url == (
        f"http://emulator/v1/messages/batches/{created.id}/results"
    )
    assert [r.result.type for r in client.messages.batches.results(created.id)] == ["succeeded"]
    refused = http.post("http://emulator/v1/messages", json=params)  # no API key
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
