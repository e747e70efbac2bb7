#!/usr/bin/env bash
# The Debian 12 packages that only `make bench` needs; tests/harness/install-deps.sh
# installs them with the build and test packages, only when one is missing.
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

exec "$(dirname "$0")/../tests/harness/install-deps.sh" "${packages[@]}"
