#!/bin/sh
# Entry point of every llmcache container: `docker-entrypoint.sh ROLE ARGS...` runs `llmcache ROLE ARGS...`,
# or Flower for ROLE=flower. With no provider API key at all and EMULATOR_URL set (the compose file sets it), the
# providers are pointed at the provider emulator: a dry run, said loudly, never silently.
set -eu
if [ -z "${OPENAI_API_KEY:-}${ANTHROPIC_API_KEY:-}${LLMCACHE_PROVIDERS__OPENAI_API_KEY:-}${LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY:-}" ] \
    && [ -n "${EMULATOR_URL:-}" ]; then
  echo "llmcache: no provider API key set: DRY RUN against the provider emulator at ${EMULATOR_URL}" \
       "(answers are the emulator's, not a real provider's)" >&2
  export LLMCACHE_PROVIDERS__OPENAI_API_KEY=emulator-key LLMCACHE_PROVIDERS__OPENAI_BASE_URL="${EMULATOR_URL}/v1"
  export LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY=emulator-key LLMCACHE_PROVIDERS__ANTHROPIC_BASE_URL="${EMULATOR_URL}"
fi
if [ "${1:-}" = "flower" ]; then
  shift
  # Flower on the project's own Celery app (its key prefix and transport options); FLOWER_* variables configure it
  exec python -c 'import sys
from llmcache.shared.config import load_settings
from llmcache.workers.app import create_app
create_app(load_settings()).start(["flower", *sys.argv[1:]])' "$@"
fi
exec llmcache "$@"
