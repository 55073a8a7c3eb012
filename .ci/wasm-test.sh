#!/usr/bin/env bash
# wasm-test.sh runs the js/wasm tests of ./shared/... and ./wasm/... under node,
# through Go's go_js_wasm_exec from $(go env GOROOT)/lib/wasm.
#
# A pattern is skipped only when its directory is absent or `go list` says it
# has no packages yet; any other problem is left to `go test` to report.
set -euo pipefail

cd "$(dirname "$0")/.."

export GOOS=js GOARCH=wasm
# go_js_wasm_exec runs the test binaries with node; bin/node-v20 holds the
# Node.js that ensure-tools.sh adds when the system's is too old.
PATH="$(go env GOROOT)/lib/wasm:$PWD/bin/node-v20/bin:$PATH"
export PATH

if ! command -v node >/dev/null 2>&1; then
	echo "wasm-test: node not found; run 'go tool task tools' (or: apt-get install nodejs)" >&2
	exit 1
fi

pkgs=()
for p in ./shared/... ./wasm/...; do
	if [[ ! -d ${p%/...} ]] || go list "$p" 2>&1 >/dev/null | grep -q 'matched no packages'; then
		echo "wasm-test: skipping $p: no packages yet"
	else
		pkgs+=("$p")
	fi
done
if ((${#pkgs[@]} == 0)); then
	echo "wasm-test: no packages to test"
	exit 0
fi

echo "GOOS=js GOARCH=wasm go test ${pkgs[*]} $*"
go test "${pkgs[@]}" "$@"
