#!/usr/bin/env bash
# Create the virtualenv $2 with interpreter $1, installing python3-venv first when it is missing (as root).
set -euo pipefail
python=$1 venv=$2
if ! command -v "$python" >/dev/null 2>&1; then
  echo "gateway: $python not found; install Python 3.11 or newer" >&2; exit 1
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "gateway: $python is older than 3.11; run make PYTHON=python3.11 (or newer)" >&2; exit 1; }
if [ ! -x "$venv/bin/pip" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$python" -m venv "$venv"
    else
      echo "gateway: cannot create $venv; install python3-venv (sudo apt-get install python3-venv)" >&2; exit 1
    fi
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
fi
