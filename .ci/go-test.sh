#!/usr/bin/env bash
# go-test.sh runs `go test ./...` for the host, with the race detector when it
# can work (cgo enabled and a C compiler present); otherwise it says why not.
# The fuzz targets' seed corpora run here as ordinary tests.
# Env: GO_TEST_PKGS  the packages to test (default ./...)
set -euo pipefail

cd "$(dirname "$0")/.."

race=(-race)
cc=$(go env CC)
cc=${cc%% *}
if [[ $(go env CGO_ENABLED) != 1 ]]; then
	race=()
	echo "go-test: without -race: CGO_ENABLED=$(go env CGO_ENABLED) (the race detector needs cgo)"
elif ! command -v "$cc" >/dev/null 2>&1; then
	race=()
	echo "go-test: without -race: C compiler '$cc' not found (install gcc for the race detector)"
fi

read -ra pkgs <<<"${GO_TEST_PKGS:-./...}"
echo "go test ${race[*]} ${pkgs[*]} $*"
go test "${race[@]}" "${pkgs[@]}" "$@"
