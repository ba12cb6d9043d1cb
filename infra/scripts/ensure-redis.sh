#!/usr/bin/env bash
# Makes sure a Redis answers at $LLMCACHE_REDIS_URL (default redis://127.0.0.1:6379/0): exits 0 when one answers;
# starts a local redis-server only when the URL's host is this machine (127.0.0.1, localhost, ::1) and nothing
# answers there; fails with a clear message for a remote URL that does not answer.
set -euo pipefail
url=${LLMCACHE_REDIS_URL:-redis://127.0.0.1:6379/0}
case "$url" in
  redis://* | rediss://*) ;;
  *)
    echo "ensure-redis: LLMCACHE_REDIS_URL=$url is not a redis:// or rediss:// URL; start that Redis yourself" >&2
    exit 1
    ;;
esac
# host and port from the URL: scheme://[user[:password]@]host[:port][/db][?query]
rest=${url#*://}
rest=${rest%%/*}
rest=${rest%%\?*}
rest=${rest##*@}
if [[ $rest == \[* ]]; then  # [ipv6]:port
  host=${rest%%]*}
  host=${host#[}
  after=${rest#*]}
  port=${after#:}
else
  host=${rest%%:*}
  port=${rest#"$host"}
  port=${port#:}
fi
host=${host:-127.0.0.1}
port=${port:-6379}

answers() {
  redis-cli -u "$url" ping 2>/dev/null | grep -q PONG
}

if ! command -v redis-cli >/dev/null 2>&1; then
  echo "ensure-redis: redis-cli is not installed (apt-get install redis-server, or redis-tools for a remote Redis)" >&2
  exit 1
fi
if answers; then
  exit 0
fi
case "$host" in
  127.0.0.1 | localhost | ::1) ;;
  *)
    echo "ensure-redis: no Redis answers at $host:$port (LLMCACHE_REDIS_URL); it is not local, so none is started" >&2
    exit 1
    ;;
esac
if redis-cli -h "$host" -p "$port" ping 2>&1 | grep -qiE 'NOAUTH|WRONGPASS|PONG'; then
  echo "ensure-redis: a Redis on $host:$port answers but refuses LLMCACHE_REDIS_URL's credentials" >&2
  exit 1
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
echo "ensure-redis: starting redis-server on 127.0.0.1:$port (for LLMCACHE_REDIS_URL=$url)"
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no --dir "$dir" --logfile "$logfile"
for _ in $(seq 1 50); do
  answers && exit 0
  sleep 0.1
done
echo "ensure-redis: redis-server did not answer on $host:$port" >&2
exit 1
