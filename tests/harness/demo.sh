#!/usr/bin/env bash
# make demo: a private Dovecot with demo mailboxes, and collectd in the
# foreground running the plugin and printing every value it dispatches.
# Ctrl-C stops collectd and Dovecot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

dir=$(mktemp -d /tmp/pop3-demo.XXXXXX)
chmod 755 "$dir"
cleanup() {
  "$here/dovecot.sh" stop "$dir/dovecot" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

mkdir -p "$dir/dovecot" "$dir/plugins"
"$here/dovecot.sh" start "$dir/dovecot" >/dev/null
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
cp "$plugin" "$dir/plugins/pop3.so"

cat > "$dir/collectd.conf" <<CONF
Hostname "demo"
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
Interval 30
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDOUT
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "stdout"
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "support-inbox">
    Spread false
    Description "Ticket intake (plain POP3)"
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    PasswordFile "$POP3_PASSWORD_FILE_FEW"
  </Monitor>
  <Monitor "archive-pop3s">
    Spread false
    Description "Archive (implicit TLS)"
    Host "localhost"
    Port $POP3S_PORT
    SSL true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_MANY"
    Password "$POP3_PASS_MANY"
  </Monitor>
  <Monitor "alerts-starttls">
    Spread false
    Description "Alerting inbox (STARTTLS)"
    Host "::1"
    Port $POP3_PLAIN_PORT
    StartTLS true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_EMPTY"
    Password "$POP3_PASS_EMPTY"
  </Monitor>
</Plugin>
CONF

cat <<TEXT
collectd-pop3 demo
  Dovecot on 127.0.0.1/::1: plain+STLS port $POP3_PLAIN_PORT, POP3S port $POP3S_PORT
  mailboxes: support-inbox $POP3_FEW_COUNT messages / $POP3_FEW_SIZE bytes,
             archive-pop3s $POP3_MANY_COUNT messages / $POP3_MANY_SIZE bytes,
             alerts-starttls $POP3_EMPTY_COUNT messages
  collectd config: $dir/collectd.conf
  Values print as PUTVAL lines every 30 s. Ctrl-C stops everything.

TEXT
collectd -f -C "$dir/collectd.conf" &
collectd_pid=$!
trap 'kill -TERM $collectd_pid 2>/dev/null; wait $collectd_pid 2>/dev/null; exit 0' INT TERM
wait "$collectd_pid"
