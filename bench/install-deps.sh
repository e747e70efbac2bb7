#!/usr/bin/env bash
# Installs the Debian 12 packages that only `make bench` needs (the build and
# test packages come from tests/install-deps.sh), only when one is missing.
set -euo pipefail

packages=(
  iproute2 iptables            # network namespaces, veth, the NFQUEUE rule
  libnetfilter-queue-dev       # bench/delayq.c, the latency emulator
  valgrind                     # callgrind instruction counts
  python3                      # poplib peer, UDP value counter, reports
  openjdk-17-jdk-headless      # javac/java for the Commons Net peer
  libcommons-net-java          # Apache Commons Net POP3Client/POP3SClient
  collectd-core                # the real daemon of the scale runs
  dovecot-core dovecot-pop3d   # the real POP3 server
  openssl                      # the bench's CA and server certificate
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "bench: installing ${missing[*]}"
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# keep Debian from starting system Dovecot/collectd services
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  "${sudo[@]}" sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
  trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
