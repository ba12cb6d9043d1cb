"""Provider-side Batch API clients (OpenAI Batch API, Anthropic Message Batches) behind one small protocol."""
