#!/usr/bin/env bash
# `make run`: a private Redis under var/ (unless the configured Redis answers or
# is not local), the demo accounts, a mail sink that prints every mail, the mail
# worker, the gateway under gunicorn on http://127.0.0.1:8000, the demo
# OpenID Connect application on http://127.0.0.1:8002 (GATEWAY_DEMO_OIDC_PORT) and the demo
# legacy SAML application on http://127.0.0.1:8001 (GATEWAY_DEMO_SAML_PORT).
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GATEWAY_CONFIG=${GATEWAY_CONFIG:-config/dev/gateway.toml}
BIN=.venv/bin
VAR=${GATEWAY_VAR_DIR:-$PWD/var}
# prometheus-client's multi-process folder, shared by gunicorn's workers and the mail worker
# (gunicorn's master removes the files of processes gone when it starts; README "Metrics").
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$VAR/metrics}
mkdir -p -m 0700 "$PROMETHEUS_MULTIPROC_DIR"

$BIN/gateway check-config
redis_url=$($BIN/gateway check-config --get redis.url)

# Every setting read here, before anything starts: a Ctrl-C soon after the start then finds no
# `gateway` command half-way through its imports (a KeyboardInterrupt traceback).
metrics_bind=$($BIN/gateway check-config --get metrics.bind)
public_url=$($BIN/gateway check-config --get public_url)

pids=()
redis_pid=
# SIGTERM to the given processes, again every second to those still running; after 25 s
# (gunicorn's graceful_timeout is 20 s), SIGKILL to what is left and its children.
# Again: a Python process notices a signal only once its main thread runs, and the signal may land
# on another thread while the main one waits in a long blocking call (the mail worker's rq waits
# up to 7 minutes for a job); a later signal wakes it.
stop() {
  local tick alive pid
  kill "$@" 2>/dev/null || true
  for tick in $(seq 100); do
    alive=()
    for pid in "$@"; do if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi; done
    if [ ${#alive[@]} -eq 0 ]; then break; fi
    sleep 0.25
    if [ $((tick % 4)) -eq 0 ]; then kill "${alive[@]}" 2>/dev/null || true; fi
  done
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: process $pid did not stop: killed" >&2
      kill -KILL $(ps -o pid= --ppid "$pid") "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}
cleanup() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then stop "${pids[@]}"; fi
  # Redis last, once nothing uses it any more (it runs in its own session: Ctrl-C does not reach it).
  if [ -n "$redis_pid" ]; then stop "$redis_pid"; fi
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
if [ -n "$metrics_bind" ]; then echo "metrics on http://$metrics_bind/metrics"; fi
# In its own session, so that only cleanup's SIGTERM reaches it: with Ctrl-C's SIGINT, its workers
# would get two signals at once (SIGINT, then the master's SIGQUIT), and gunicorn's gthread worker
# can deadlock handling the second inside the first (ThreadPoolExecutor.shutdown, its own lock).
GATEWAY_MAIL_PORT=$sink_port setsid $BIN/gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app &
pids+=($!)

# The demo relying party (gateway/demo/oidc_rp.py): client dev-demo-rp of config/dev/oidc-clients.toml,
# it knows only the gateway's discovery URL (from public_url), its client id and its secret.
demo_port=${GATEWAY_DEMO_OIDC_PORT:-8002}
echo "application de démonstration OIDC on http://127.0.0.1:$demo_port (client dev-demo-rp)"
GATEWAY_DEMO_OIDC_PORT=$demo_port \
GATEWAY_DEMO_OIDC_DISCOVERY_URL="${public_url%/}/.well-known/openid-configuration" \
  $BIN/python -m gateway.demo.oidc_rp &
pids+=($!)

# The demo legacy application (gateway/demo/saml_sp.py): a pysaml2 SP whose metadata for port 8001 is
# config/dev/saml/sp/demo-sp.xml (another port would need its own metadata there); it reads the
# gateway's metadata at the first sign-in.
saml_demo_port=${GATEWAY_DEMO_SAML_PORT:-8001}
echo "application de démonstration SAML on http://127.0.0.1:$saml_demo_port (pysaml2 SP)"
GATEWAY_DEMO_SAML_PORT=$saml_demo_port \
GATEWAY_DEMO_SAML_IDP_METADATA_URL="${public_url%/}/saml/metadata" \
  $BIN/python -m gateway.demo.saml_sp &
pids+=($!)
wait -n "${pids[@]}"
