"""Container health checks, one per role: `llmcache-healthcheck worker|beat|metrics|flower|emulator`.
Exit 0 when healthy, 1 with a reason on stderr otherwise. Installed in the image by infra/Dockerfile."""

from __future__ import annotations

import socket
import sys
import urllib.request
from collections.abc import Callable


def _http_ok(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:  # raises on a refused connection or HTTP error
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")


def _worker() -> None:
    """This container's worker answers a Celery ping (its node name ends with @<hostname>)."""
    from llmcache.shared.config import load_settings
    from llmcache.workers.app import create_app

    app = create_app(load_settings())
    suffix = f"@{socket.gethostname()}"
    replies = app.control.ping(timeout=5.0) or []
    if not any(name.endswith(suffix) for reply in replies for name in reply):
        raise RuntimeError(f"no worker named *{suffix} answered a ping ({len(replies)} others did)")


def _beat() -> None:
    """Redis answers (the beat, leader or standby, only needs Redis; a dead process ends the container)."""
    import redis

    from llmcache.shared.config import load_settings

    redis.Redis.from_url(load_settings().redis_url, socket_timeout=5).ping()


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else ""
    checks: dict[str, Callable[[], None]] = {
        "worker": _worker,
        "beat": _beat,
        "metrics": lambda: _http_ok("http://127.0.0.1:9464/metrics"),
        "flower": lambda: _http_ok("http://127.0.0.1:5555/healthcheck"),
        "emulator": lambda: _http_ok("http://127.0.0.1:8089/emulator/stats"),
    }
    if role not in checks:
        print(f"usage: llmcache-healthcheck {'|'.join(checks)}", file=sys.stderr)
        return 2
    try:
        checks[role]()
    except Exception as error:
        print(f"{role} unhealthy: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
