#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target of the module with `go test -fuzz` for a
# short time each. The seed corpora already run as ordinary tests in
# `go test ./...`; this is the extra, coverage-guided exploration.
#
# Usage: fuzz.sh [package patterns...]   (default ./...)
# Env:   FUZZTIME     per target, a `go test -fuzztime` value (default 20s);
#                     prefer a count (e.g. 20000x) where a run must not
#                     flake: with a duration, Go 1.26's fuzz coordinator can
#                     end a clean run with a bare "context deadline
#                     exceeded" (go.dev/issue/75804, fixed in Go 1.27)
#        FUZZMINIMIZETIME  -fuzzminimizetime: how long each new input is
#                     minimized (default 1000x; Go's 60s default stalls a
#                     short run while it shrinks inputs that only add
#                     coverage)
#        FUZZMATCH    a regexp choosing targets by name (default: every Fuzz*)
#        FUZZTARGETS  instead of FUZZMATCH: the exact target names, space
#                     separated; each must be found exactly once, so a
#                     renamed or removed target fails the run instead of
#                     silently dropping out of it.
#
# It fails when `go test -list` fails (a package that does not build), when
# nothing matches, and when a named target is missing.
set -euo pipefail

cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-20s}
minimizetime=${FUZZMINIMIZETIME:-1000x}
read -ra wanted <<<"${FUZZTARGETS:-}"
if ((${#wanted[@]})); then
	match="^($(IFS='|'; echo "${wanted[*]}"))\$"
else
	match=${FUZZMATCH:-^Fuzz}
fi
patterns=("$@")
((${#patterns[@]})) || patterns=(./...)

# `go test -list` prints each package's matching names, then "ok  <pkg> <time>".
# Its output is captured first so that its exit status is seen.
if ! listing=$(go test -run '^$' -list "$match" "${patterns[@]}" 2>&1); then
	printf '%s\n' "$listing" >&2
	echo "fuzz: FAILED: go test -list $match ${patterns[*]} failed" >&2
	exit 1
fi
mapfile -t targets < <(
	printf '%s\n' "$listing" |
		awk '/^Fuzz/ { names[n++] = $1; next }
		     /^ok/   { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }'
)

if ((${#targets[@]} == 0)); then
	echo "fuzz: FAILED: no Fuzz targets matching $match in ${patterns[*]}" >&2
	exit 1
fi

if ((${#wanted[@]})); then
	missing=()
	for w in "${wanted[@]}"; do
		n=0
		for t in "${targets[@]}"; do
			[[ ${t#* } == "$w" ]] && n=$((n + 1))
		done
		if ((n != 1)); then
			missing+=("$w (found $n times)")
		fi
	done
	if ((${#missing[@]})); then
		echo "fuzz: FAILED: FUZZTARGETS names not found exactly once in ${patterns[*]}: ${missing[*]}" >&2
		exit 1
	fi
fi

echo "fuzz: ${#targets[@]} target(s), $fuzztime each"
failed=()
for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	echo "fuzz: $pkg $name"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" "$pkg"; then
		failed+=("$pkg $name")
	fi
done

if ((${#failed[@]})); then
	echo "fuzz: FAILED: ${failed[*]} (new crashers are saved under the package's testdata/fuzz/)" >&2
	exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) passed"
