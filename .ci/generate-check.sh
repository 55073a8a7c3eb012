#!/usr/bin/env bash
# generate-check.sh runs `templ generate` and fails when that changed, added or
# removed any generated *_templ.go file: the committed generated code must be
# what the committed .templ files produce.
#
# The check compares content hashes taken before and after generation, so it
# works in a git work tree, a tarball or a detached copy alike. Inside a git
# work tree it also shows the diff, and under CI it additionally requires
# `git diff --exit-code` to be clean and no generated file to be untracked.
set -euo pipefail

cd "$(dirname "$0")/.."

# hash_generated prints "hash  path" for every generated templ file, sorted.
hash_generated() {
	find . \( -name node_modules -o -name '.*' ! -name . \) -prune -o \
		-type f -name '*_templ.go' -print0 |
		sort -z | xargs -0 -r sha256sum
}

in_git_tree() {
	command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1
}

before=$(hash_generated)
go tool templ generate -include-version=false -log-level warn
after=$(hash_generated)

status=0
if [[ $before != "$after" ]]; then
	echo "generate-check: templ generate changed generated files:" >&2
	diff <(echo "$before") <(echo "$after") | sed -n 's/^[<>] [0-9a-f]*  /  /p' | sort -u >&2 || true
	status=1
fi

if in_git_tree; then
	if ((status)); then
		git --no-pager diff --stat -- ':(glob)**/*_templ.go' >&2 || true
	fi
	if [[ -n ${CI:-} ]]; then
		if ! git --no-pager diff --exit-code -- ':(glob)**/*_templ.go'; then
			echo "generate-check: generated files differ from the index (git diff above)" >&2
			status=1
		fi
		untracked=$(git ls-files --others --exclude-standard -- ':(glob)**/*_templ.go')
		if [[ -n $untracked ]]; then
			echo "generate-check: generated files not committed:" >&2
			printf '  %s\n' "${untracked//$'\n'/$'\n'  }" >&2
			status=1
		fi
	fi
else
	echo "generate-check: not in a git work tree; compared file hashes only" >&2
fi

if ((status)); then
	echo "generate-check: FAILED - run 'go tool task generate' and commit the generated *_templ.go files" >&2
	exit 1
fi
echo "generate-check: generated templ code is up to date"
