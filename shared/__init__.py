"""llmcache core: canonical keys, namespace policy, exact and semantic cache. No Celery here."""
