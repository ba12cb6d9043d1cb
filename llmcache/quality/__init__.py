"""Measuring and tuning the cache, not running it: pairs evaluation and the threshold sweep, the learned
verifier's training, the KV-memory estimator. Needs `pip install llmcache[quality]` for plots. Never
imported by the core."""
