#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the demo need,
# and any named as arguments (bench/install-deps.sh passes its own), only
# when something is missing (so repeated runs cost nothing).
set -euo pipefail

packages=(
  gcc make pkg-config         # build
  collectd-core collectd-dev  # the daemon and its plugin headers
  libssl-dev openssl          # TLS, and certificates for the test servers
  libc-ares-dev               # name resolution inside the event loop
  libcurl4-openssl-dev        # SMTP submission of the mail loop's probes
  check libsubunit-dev        # libcheck unit tests
  dovecot-core dovecot-pop3d  # the real POP3 server of the tests and demo
  dovecot-imapd               # IMAP: the message flags before and after collections
  python3                     # the scripted fault server
  clang libclang-rt-14-dev valgrind  # fuzzing (libFuzzer), memcheck soak
  graphite-carbon python3-whisper  # shipping: carbon-cache and whisper-fetch
  influxdb curl               # shipping: InfluxDB 1.x and its HTTP API
  prometheus libmicrohttpd12 libprotobuf-c1  # shipping: Prometheus, collectd write_prometheus
  debhelper dpkg-dev          # the Debian package (dpkg-buildpackage)
  perl man-db                 # pod2man/podchecker, man --warnings/lexgrog
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}"
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# policy-rc.d keeps Debian from starting the system Dovecot/collectd/
# carbon/InfluxDB/Prometheus: the tests run private instances and need no system
# service. Where the machine has none, one that denies is in place for the
# install only.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  "${sudo[@]}" sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
  trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
