#!/usr/bin/env bash
# Installs the pinned node-oidc-provider (see package-lock.json) into ./node_modules.
# Idempotent: does nothing when oidc-provider 8.8.1 is already installed.
set -euo pipefail
cd "$(dirname "$0")"

want=8.8.1
pkg=node_modules/oidc-provider/package.json
if [ -f "$pkg" ] && [ "$(node -p "require('./$pkg').version" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

npm ci --no-audit --no-fund --loglevel=error >/dev/null
