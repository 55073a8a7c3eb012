#!/usr/bin/env bash
# ensure-tools.sh installs, from Debian's packages, the tools the test chain
# needs and a fresh machine lacks: Node.js + npm (Playwright, and the js/wasm
# tests run under node) and Chromium (Playwright drives Debian's build, since
# Playwright cannot download its own browser here). Where Debian's nodejs is
# older than Playwright accepts (Debian 12 ships 18), it adds a Node.js 20
# from the npm registry under bin/node-v20, which the tasks that run node put
# first on PATH.
#
# Usage: ensure-tools.sh [node] [chromium] [nginx]   (no argument: node and chromium)
#
# nginx serves the cluster end-to-end test and `go tool task cluster`.
#
# Idempotent and silent when everything is present. Installs as root directly,
# as a normal user through passwordless `sudo -n`; otherwise it stops and
# prints the exact command to run.
set -euo pipefail

# Playwright 1.65 needs Node.js 20 or later (package.json "engines").
readonly min_node_major=20
readonly chromium=/usr/bin/chromium
root=$(cd "$(dirname "$0")/.." && pwd)
readonly root

log() { printf 'ensure-tools: %s\n' "$*" >&2; }

# missing_packages prints the Debian packages to install for the requested tools.
missing_packages() {
	local tool
	for tool in "$@"; do
		case $tool in
		node)
			if ! command -v node >/dev/null 2>&1; then
				echo nodejs npm
			elif ! command -v npm >/dev/null 2>&1; then
				echo npm
			fi
			;;
		chromium)
			[[ -x $chromium ]] || echo chromium
			;;
		nginx)
			command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || echo nginx
			;;
		*)
			log "unknown tool '$tool' (want: node, chromium, nginx)"
			exit 2
			;;
		esac
	done
}

# as_root runs a command as root: directly, or through passwordless sudo.
# It fails with the command a person has to run when neither is possible.
as_root() {
	if [[ $(id -u) == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

install_packages() {
	local pkgs=("$@")
	if ! as_root true; then
		log "missing: ${pkgs[*]}; installing needs root, and passwordless sudo is not available."
		log "run this once, then run the task again:"
		log "    sudo apt-get update && sudo apt-get install -y ${pkgs[*]}"
		exit 1
	fi
	log "installing ${pkgs[*]} with apt-get (Debian packages)"
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)
	as_root "${apt[@]}" update >/dev/null
	as_root "${apt[@]}" install -y "${pkgs[@]}" >/dev/null
	log "installed ${pkgs[*]}"
}

# A Node.js from the npm registry (the node-linux-<arch> package ships the
# binary) for machines whose Debian nodejs is older than Playwright accepts.
# The tasks that run node put this directory first on PATH.
readonly private_node_version=20.20.2
readonly private_node_dir=$root/bin/node-v20

node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]'; }

install_private_node() {
	local arch
	case $(uname -m) in
	x86_64) arch=x64 ;;
	aarch64) arch=arm64 ;;
	*)
		log "no Node.js >= $min_node_major for $(uname -m); install one and put it first on PATH."
		exit 1
		;;
	esac
	log "node $(node --version) is older than Playwright accepts (>= $min_node_major);"
	log "installing Node.js $private_node_version from the npm registry into ${private_node_dir#"$root"/}"
	local tmp
	tmp=$(mktemp -d)
	npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
		"node-linux-$arch@$private_node_version" >/dev/null
	rm -rf "$private_node_dir"
	mkdir -p "$(dirname "$private_node_dir")"
	mv "$tmp/node_modules/node-linux-$arch" "$private_node_dir"
	rm -rf "$tmp"
}

check_node_version() {
	if [[ -x $private_node_dir/bin/node ]] && (($(node_major "$private_node_dir/bin/node") >= min_node_major)); then
		return
	fi
	if (($(node_major) < min_node_major)); then
		install_private_node
	fi
}

main() {
	local tools=("$@")
	((${#tools[@]})) || tools=(node chromium)

	local pkgs
	read -r -a pkgs <<<"$(missing_packages "${tools[@]}" | tr '\n' ' ')"
	((${#pkgs[@]} == 0)) || install_packages "${pkgs[@]}"

	local tool
	for tool in "${tools[@]}"; do
		case $tool in
		node) check_node_version ;;
		chromium) [[ -x $chromium ]] || { log "$chromium still missing after install"; exit 1; } ;;
		esac
	done
}

main "$@"
