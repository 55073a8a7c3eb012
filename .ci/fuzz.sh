#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target of the module with `go test -fuzz` for a
# short time each. The seed corpora already run as ordinary tests in
# `go test ./...`; this is the extra, coverage-guided exploration.
#
# Usage: fuzz.sh [package patterns...]   (default ./...)
# Env:   FUZZTIME   per target, a `go test -fuzztime` value (default 20s)
#        FUZZMATCH  a regexp choosing targets by name (default: every Fuzz*)
set -euo pipefail

cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-20s}
match=${FUZZMATCH:-^Fuzz}
patterns=("$@")
((${#patterns[@]})) || patterns=(./...)

# `go test -list` prints each package's matching names, then "ok  <pkg> <time>".
mapfile -t targets < <(
	go test -run '^$' -list "$match" "${patterns[@]}" |
		awk '/^Fuzz/ { names[n++] = $1; next }
		     /^ok/   { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }'
)

if ((${#targets[@]} == 0)); then
	echo "fuzz: no Fuzz targets matching $match in ${patterns[*]}"
	exit 0
fi

echo "fuzz: ${#targets[@]} target(s), $fuzztime each"
failed=()
for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	echo "fuzz: $pkg $name"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
		failed+=("$pkg $name")
	fi
done

if ((${#failed[@]})); then
	echo "fuzz: FAILED: ${failed[*]} (new crashers are saved under the package's testdata/fuzz/)" >&2
	exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) passed"
