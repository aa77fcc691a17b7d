#!/usr/bin/env bash
# Installs what vafa needs on a fresh Debian/Ubuntu machine with Node 20+: npm dependencies when
# missing or stale, and Debian's nats-server (plus, with --test, the tools the test suite drives:
# chromium for the dashboard test, docker-compose for `docker-compose config`). Idempotent and quiet
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=0
[[ "${1:-}" == "--test" ]] && want_test_tools=1

say() { printf '\033[1mvafa bootstrap:\033[0m %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if (( node_major < 20 )); then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies (npm ci)…"
  if ! npm ci --no-audit --no-fund --loglevel=error >&2 2>/tmp/vafa-npm-ci.$$; then
    # chdb lists prebuilt engines for other platforms as optional packages that a registry mirror may not
    # carry, and npm ci then refuses a lockfile that cannot record them; npm install resolves the same
    # locked versions and skips what this platform does not need.
    say "npm ci refused the lockfile ($(grep -m1 'Missing:' /tmp/vafa-npm-ci.$$ || echo 'see npm output')); installing with npm install"
    npm install --no-audit --no-fund --loglevel=error >&2
  fi
  rm -f /tmp/vafa-npm-ci.$$
fi

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] || [[ -x "/usr/bin/$1" ]]; }

apt_install() {
  local pkgs=("$@")
  local SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  say "installing Debian packages: ${pkgs[*]} (apt-get)…"
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || return 1
  fi
}

if [[ -z "${NATS_URL:-}" ]] && ! have nats-server; then
  if ! apt_install nats-server; then
    say "nats-server is missing and could not be installed with apt-get."
    say "Install it (Debian/Ubuntu: sudo apt-get install nats-server), or run the engines with Docker:"
    say "  docker compose up -d nats clickhouse   and then   NATS_URL=nats://127.0.0.1:4222 CLICKHOUSE_URL=http://127.0.0.1:8123 npm run demo"
    exit 1
  fi
fi

if (( want_test_tools )); then
  missing=()
  have chromium || missing+=(chromium)
  have docker-compose || missing+=(docker-compose)
  if (( ${#missing[@]} )); then
    apt_install "${missing[@]}" || say "could not install ${missing[*]}: the tests that need them will fail with a message naming what is missing."
  fi
fi
