"""llmcache workers: the Celery app, tasks, producers and the CLI. Only this package imports Celery."""
