#!/usr/bin/env bash
# Starts a local Redis when none answers at $LLMCACHE_REDIS_URL's host/port (default 127.0.0.1:6379).
set -euo pipefail
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: no Redis answers at $host:$port and redis-server is not installed" >&2
  echo "ensure-redis: install it (apt-get install redis-server) or point LLMCACHE_REDIS_URL at a running one" >&2
  exit 1
fi
dir=/var/lib/redis
logfile=/var/log/redis/ci.log
if ! { mkdir -p "$dir" /var/log/redis && [ -w "$dir" ]; } 2>/dev/null; then
  dir=$(mktemp -d)
  logfile="$dir/redis.log"
fi
echo "ensure-redis: starting redis-server on $host:$port"
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no --dir "$dir" --logfile "$logfile"
for _ in $(seq 1 50); do
  redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "ensure-redis: redis-server did not answer on $host:$port" >&2
exit 1
