#!/usr/bin/env bash
# `make run`: a private Redis under var/ (unless the configured Redis answers or
# is not local), the demo accounts, and the gateway under gunicorn on
# http://127.0.0.1:8000. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GATEWAY_CONFIG=${GATEWAY_CONFIG:-config/dev/gateway.toml}
BIN=.venv/bin

$BIN/gateway check-config
redis_url=$($BIN/gateway check-config --get redis.url)

pids=()
cleanup() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "stopped."
}
trap cleanup EXIT INT TERM

redis_answers() { $BIN/python - "$1" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=0.3).ping()
except Exception:
    sys.exit(1)
PY
}

if ! redis_answers "$redis_url"; then
  read -r host port < <($BIN/python -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); print(u.hostname, u.port or 6379)' "$redis_url")
  case "$host" in
    127.0.0.1|localhost|::1) ;;
    *) echo "gateway: Redis at $host:$port does not answer" >&2; exit 1 ;;
  esac
  mkdir -p var/redis
  echo "starting a private Redis on $host:$port (data in var/redis, AOF on)"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/var/redis" --appendonly yes \
    --save "" --logfile "$PWD/var/redis/redis.log" &
  pids+=($!)
  for _ in $(seq 50); do redis_answers "$redis_url" && break; sleep 0.1; done
  redis_answers "$redis_url" || { echo "gateway: the private Redis did not start (see var/redis/redis.log)" >&2; exit 1; }
fi

$BIN/gateway users import config/dev/accounts.jsonl

echo "gateway on http://127.0.0.1:8000  (Ctrl-C stops)"
$BIN/gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app &
pids+=($!)
wait -n "${pids[@]}"
