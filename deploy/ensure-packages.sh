#!/usr/bin/env bash
# Make sure the system packages named as arguments are installed (Debian/Ubuntu).
# As root, installs the missing ones with apt-get; otherwise says what to install.
set -euo pipefail
missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "gateway: missing system packages: ${missing[*]} — install them (sudo apt-get install ${missing[*]}) and run make again" >&2
  exit 1
fi
