"""The provider emulator: a loopback HTTP server speaking OpenAI's and Anthropic's wire formats, for tests,
benchmarks and `make run` without an API key. It is an emulator, not a provider, and says so in every response
(`x-emulator` header, `system_fingerprint`)."""
