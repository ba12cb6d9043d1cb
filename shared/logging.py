"""structlog set-up: JSON lines in workers, readable lines at a terminal. Called once at process start.

Every line keeps its real level, structlog's own and the standard library's alike (Celery, kombu, the SDKs): the
root logger gets one handler that renders records through structlog's processors to the current `sys.stderr`.
Services must not let anything replace `sys.stderr` with a logger (Celery's stdout redirect logs every write at
WARNING); `llmcache.workers.app` turns that off. The SDKs' HTTP clients log each request at INFO: kept at WARNING, so
that a job costs at most one info line.
"""

from __future__ import annotations

import logging
import sys

import structlog

QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "anthropic", "urllib3")


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at emit time (tests and daemons replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr)
        super().emit(record)


def configure_logging(json_output: bool = True, level: str = "INFO") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelName(level.upper())
    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared_processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        # not cached: a logger resolves sys.stderr when made, so a replaced stderr (tests, daemons) is honoured
        cache_logger_on_first_use=False,
    )
    _configure_stdlib(renderer, shared_processors, numeric)


def _configure_stdlib(
    renderer: structlog.typing.Processor, shared_processors: list[structlog.typing.Processor], level: int
) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors],
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CurrentStderrHandler)]:
        root.removeHandler(handler)
    handler = _CurrentStderrHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)
