#!/usr/bin/env bash
# `make run`: a private Redis under var/ (unless the configured Redis answers or
# is not local), the demo accounts, a mail sink that prints every mail, the mail
# worker, and the gateway under gunicorn on http://127.0.0.1:8000.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GATEWAY_CONFIG=${GATEWAY_CONFIG:-config/dev/gateway.toml}
BIN=.venv/bin
VAR=${GATEWAY_VAR_DIR:-$PWD/var}

$BIN/gateway check-config
redis_url=$($BIN/gateway check-config --get redis.url)

pids=()
redis_pid=
cleanup() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Redis last, once nothing uses it any more (it runs in its own session: Ctrl-C does not reach it).
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
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
  mkdir -p "$VAR/redis"
  echo "starting a private Redis on $host:$port (data in $VAR/redis, AOF on)"
  setsid redis-server --port "$port" --bind 127.0.0.1 --dir "$VAR/redis" --appendonly yes \
    --save "" --logfile "$VAR/redis/redis.log" &
  redis_pid=$!
  for _ in $(seq 50); do redis_answers "$redis_url" && break; sleep 0.1; done
  redis_answers "$redis_url" || { echo "gateway: the private Redis did not start (see $VAR/redis/redis.log)" >&2; exit 1; }
fi

$BIN/gateway users import config/dev/accounts.jsonl

sink_port=${GATEWAY_MAIL_SINK_PORT:-$($BIN/gateway check-config --get mail.port)}
echo "mail sink on 127.0.0.1:$sink_port: every mail the gateway sends is printed here"
GATEWAY_MAIL_PORT=$sink_port $BIN/gateway mail-sink --port "$sink_port" &
pids+=($!)
GATEWAY_MAIL_PORT=$sink_port $BIN/gateway mail-worker &
pids+=($!)

echo "gateway on http://${GATEWAY_BIND:-127.0.0.1:8000}  (Ctrl-C stops)"
GATEWAY_MAIL_PORT=$sink_port $BIN/gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app &
pids+=($!)
wait -n "${pids[@]}"
