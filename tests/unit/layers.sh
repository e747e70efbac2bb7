#!/usr/bin/env bash
# The layers of src/ include only downward: core (the protocol, no I/O) <-
# net (sockets, TLS, the engine) <- plugin (the collectd glue); probe (the
# command-line tool and collectd's stand-ins outside the daemon) may use
# them all. Only plugin/ and probe/ include collectd's headers.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../src" && pwd)
status=0
allowed() { # LAYER: the layers whose headers it may include
  case $1 in
    core) echo core ;;
    net) echo core net ;;
    plugin) echo core net plugin ;;
    probe) echo core net plugin probe ;;
  esac
}
for layer in core net plugin probe; do
  for f in "$src/$layer"/*.[ch]; do
    while read -r header; do
      home=$(cd "$src" && ls -d -- */"$header" 2>/dev/null | cut -d/ -f1)
      if [[ -z $home ]]; then
        echo "layers: ${f#"$src"/} includes \"$header\", which is in no layer"
        status=1
      elif [[ " $(allowed "$layer") " != *" $home "* ]]; then
        echo "layers: ${f#"$src"/} ($layer) includes $home/$header: an arrow upward"
        status=1
      fi
    done < <(sed -n 's/^#include "\(pop3_[a-z_]*\.h\)".*/\1/p' "$f")
    if [[ $layer == core || $layer == net ]] && grep -q '^#include "collectd/' "$f"; then
      echo "layers: ${f#"$src"/} ($layer) includes a collectd header"
      status=1
    fi
  done
done
((status == 0)) && echo "layers: core <- net <- plugin <- probe, no arrow upward, collectd only above net"
exit "$status"
