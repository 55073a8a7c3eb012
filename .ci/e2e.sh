#!/usr/bin/env bash
# e2e.sh runs the Playwright suite as `go tool task test` does: against a
# bin/duet that Playwright starts itself on a free loopback port (or on
# DUET_E2E_PORT when set), never reusing a server already listening there,
# and refusing test.only (DUET_E2E_STRICT=1, see playwright.config.ts).
#
# Usage: e2e.sh [playwright test args...]
set -euo pipefail

cd "$(dirname "$0")/../playwright"

# in_use reports whether something accepts connections on 127.0.0.1:$1.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=${DUET_E2E_PORT:-}
if [[ -z $port ]]; then
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! in_use "$p"; then
			port=$p
			break
		fi
	done
	if [[ -z $port ]]; then
		echo "e2e: no free loopback port found in 50 tries" >&2
		exit 1
	fi
elif in_use "$port"; then
	echo "e2e: 127.0.0.1:$port is already in use; the suite must test a server it starts itself" >&2
	exit 1
fi
echo "e2e: bin/duet on 127.0.0.1:$port"

export DUET_E2E_PORT=$port DUET_E2E_STRICT=1
export PATH="$PWD/../bin/node-v20/bin:$PATH"
exec ./node_modules/.bin/playwright test "$@"
