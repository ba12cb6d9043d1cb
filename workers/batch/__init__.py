"""`llmcache batch run`: provider batch files through the cache cluster, in chunks.

formats  input options and the providers' output lines (moved here from shared/batchfiles.py)
parsing  a line to a job, or to that line's error (refused parameters, limits, unknown models)
messages what crosses Celery and the results list (pydantic)
chunk    the worker's lookup of a chunk: one MGET, one batched embedding, one batched search, the guard
misses   the worker's answering of distinct misses through a `MissAnswerer`, stored in batches
planning the client's file-wide dedupe: one leader per request key or guard-accepted equivalent in flight
lease    leases with a heartbeat, so that work lost with its worker is seen in seconds
resume   what an earlier output already holds, keyed by custom_id and the line's digest
output   the output file: lines as they complete, or in input order
runner   the client: dispatch, results, lost-work detection, the summary

This package imports no Celery except in `runner` (the client side) and `llmcache.workers.tasks` (the worker side).
"""
