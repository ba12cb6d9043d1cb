"""Turns the OpenAI and Anthropic SDK exceptions into llmcache's retryable / permanent provider errors."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anthropic
import openai

from llmcache.shared.errors import PermanentProviderError, ProviderError, RetryableProviderError

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if headers is None:
        return None
    if (value := headers.get("retry-after-ms")) is not None:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    if (value := headers.get("retry-after")) is not None:
        try:
            return float(value)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return max(parsed.timestamp() - time.time(), 0.0)
    return None


def _message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def translate(provider: str, error: Exception) -> ProviderError:
    status_error = (openai.APIStatusError, anthropic.APIStatusError)
    timeout_error = (openai.APITimeoutError, anthropic.APITimeoutError)
    connection_error = (openai.APIConnectionError, anthropic.APIConnectionError)
    if isinstance(error, status_error):
        headers = error.response.headers
        request_id = headers.get("x-request-id") or headers.get("request-id")
        message = _message(error.body, str(error))
        if is_retryable_status(error.status_code):
            return RetryableProviderError(
                provider, message, error.status_code, request_id, retry_after_seconds(headers)
            )
        return PermanentProviderError(provider, message, error.status_code, request_id)
    if isinstance(error, timeout_error):
        return RetryableProviderError(provider, "request timed out")
    if isinstance(error, connection_error):
        return RetryableProviderError(provider, f"connection error: {error}")
    if isinstance(error, openai.APIResponseValidationError | anthropic.APIResponseValidationError):
        return RetryableProviderError(provider, f"malformed response: {error}")
    return PermanentProviderError(provider, f"{type(error).__name__}: {error}")


T = TypeVar("T")


def sdk_call(provider: str, call: Callable[[], T]) -> T:
    """Run one SDK request; every SDK failure comes out as a retryable or permanent ProviderError."""
    try:
        return call()
    except (openai.OpenAIError, anthropic.AnthropicError) as error:
        raise translate(provider, error) from error
    except json.JSONDecodeError as error:  # the SDKs parse the body themselves and let this through
        raise RetryableProviderError(provider, f"malformed response body: {error}") from error
