"""The emulator in-process, as an httpx transport (`httpx2`, the HTTP client both SDKs are built on): give it to
an SDK client and tests reach every emulator endpoint with no port and no thread.

```python
transport = EmulatorTransport()
client = openai.OpenAI(api_key="k", base_url="http://emulator/v1", http_client=httpx2.Client(transport=transport))
```
"""

from __future__ import annotations

import time
from typing import Any

import httpx2 as httpx

from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.dispatch import HANG, handle
from llmcache.testing.emulator.server import EMULATOR_HEADER
from llmcache.testing.emulator.state import EmulatorState


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, config: EmulatorConfig | None = None, state: EmulatorState | None = None) -> None:
        self.state = state or EmulatorState.create(config or EmulatorConfig())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.read()
        target = request.url.raw_path.decode("ascii")
        base_url = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = handle(self.state, request.method, target, headers=headers, raw=raw, base_url=base_url)
        if answer.status == HANG:  # the `timeout` fault: wait as long as the client would, then time out
            timeout: Any = request.extensions.get("timeout", {})
            time.sleep(min(self.state.config.timeout_hang_seconds, float(timeout.get("read") or 0.0)))
            raise httpx.ReadTimeout("emulated timeout", request=request)
        out = {"content-type": answer.content_type, "x-emulator": EMULATOR_HEADER, **answer.headers}
        return httpx.Response(answer.status, headers=out, content=answer.body, request=request)

    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def configure(self, **changes: Any) -> None:
        self.state.configure(**changes)
