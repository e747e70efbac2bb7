#!/usr/bin/env bash
# tests/servers/popa3d-ns.sh DIR ROOT PORT ADDRESSES
# Runs inside `unshare -m --propagation private` (started by popa3d.sh): lays
# the instance's passwd/shadow/group/pam.d over /etc (overlay) and its mail
# spool on /var/mail, both visible in this mount namespace only, then becomes
# the loopback listener that runs popa3d in inetd mode per connection.
set -euo pipefail

dir=$1 root=$2 port=$3 addrs=$4
mount -t overlay overlay \
    -o "lowerdir=/etc,upperdir=$dir/data/overlay/upper,workdir=$dir/data/overlay/work" /etc
mount --bind "$dir/mail/spool" /var/mail
exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/popa3d-listener.py" \
    "$dir/data/listener.pid" "$addrs" "$port" "$root/usr/sbin/popa3d"
