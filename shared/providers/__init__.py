"""Providers: OpenAI and Anthropic through their official SDKs, with prompt caching, retries, a shared rate limit
and exact cost accounting."""
