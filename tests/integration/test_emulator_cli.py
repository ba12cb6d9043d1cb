"""`llmcache emulator` as its own process (as workers and `make run` use it), reached by the real SDK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from typing import Any

import openai


def _json(url: str, post: bool = False) -> Any:
    request = urllib.request.Request(url, data=b"" if post else None, method="POST" if post else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_emulator_process_serves_the_sdk_and_reports_stats() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "llmcache.workers.cli", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once the port is bound
        assert "not a real provider" in banner
        match = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert match, banner
        url = match.group(0)
        client = openai.OpenAI(api_key="emulator-key", base_url=f"{url}/v1", max_retries=0)
        reply = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
        )
        assert reply.headers["x-emulator"] == "llmcache-provider-emulator"
        assert reply.parse().choices[0].message.content
        stats = _json(f"{url}/emulator/stats")
        assert stats["calls"] == 1 and stats["by_model"]["gpt-4o-mini"]["calls"] == 1
        assert _json(f"{url}/emulator/reset", post=True) == {"reset": True}
        assert _json(f"{url}/emulator/stats")["calls"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
