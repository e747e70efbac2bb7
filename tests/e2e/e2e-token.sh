#!/usr/bin/env bash
# End to end inside the real collectd daemon, against the harness's Dovecot:
#  - TokenCommand's exit status is honoured although collectd ignores
#    SIGCHLD and its exec plugin (loaded here, running programs every
#    second) reaps any child with waitpid(-1): a command that prints the
#    valid token and exits 1 fails the collection; one that overruns the
#    Timeout is killed with what it started;
#  - passwords far beyond 248 bytes log in through SASL PLAIN and LOGIN;
#  - pop3-probe --config reads collectd.conf as collectd does: passwords
#    written with escapes and continuation lines log in through both, and
#    the values collectd's exec plugin hands to programs are the values the
#    probe's reader finds (test_config --dump-exec).
#
# usage: tests/e2e/e2e-token.sh BUILD/pop3.so   (BUILD/pop3-probe and
#        BUILD/test_config must be built too)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
bin=$(dirname "$plugin")
probe=$bin/pop3-probe
dump=$bin/test_config
for f in "$plugin" "$probe" "$dump"; do
  [[ -x $f || -f $f ]] || { echo "FAIL: $f is not built"; exit 1; }
done

dir=$(mktemp -d /tmp/pop3-e2e-token.XXXXXX)
chmod 755 "$dir" # Dovecot's and the exec plugin's processes traverse it
collectd_pid=

# stop_collectd: SIGTERM by PID, SIGKILL after 10 s
stop_collectd() {
  [[ -n $collectd_pid ]] || return 0
  kill -TERM "$collectd_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$collectd_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$collectd_pid" 2>/dev/null || true
  local status=0
  wait "$collectd_pid" 2>/dev/null || status=$?
  collectd_pid=
  return "$status"
}
cleanup() {
  stop_collectd || true
  "$here/../harness/dovecot.sh" stop "$dir/dovecot" >/dev/null 2>&1 || true
  "$here/../harness/keep-logs.sh" "$dir" e2e-token
  rm -rf "$dir"
}
trap cleanup EXIT

passed=0
fail() {
  echo "FAIL: $*"
  local log
  for log in "$dir"/*.log; do
    [[ -f $log ]] || continue
    echo "--- $(basename "$log"):"
    grep -v 'has closed STDERR' "$log" | tail -n 30 || true
  done
  exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

mkdir -p "$dir/dovecot" "$dir/plugins" "$dir/argv" "$dir/conf.d"
"$here/../harness/dovecot.sh" start "$dir/dovecot" >/dev/null
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
cp "$plugin" "$dir/plugins/pop3.so" # collectd refuses a symlinked plugin
token=$POP3_TOKEN_BEARER
token_file=$POP3_TOKEN_FILE_BEARER

# A user whose password has quotes, backslashes, a hash and a blank: the
# harness's passwd-file is read again by Dovecot when it changes.
quoted_password="Q\"b\\c\\\\d\"e#f x$RANDOM$RANDOM"
passwd=$POP3_TEST_DIR/passwd
[[ -f $passwd ]] || fail "no passwd-file at $passwd"
printf 'quoted:{PLAIN}%s::::%s/home/few::\n' "$quoted_password" "$POP3_TEST_DIR" >> "$passwd"

# Passwords as collectd.conf writes them: every character escaped with a
# backslash, or a backslash before quote and backslash only; split by a
# backslash-newline whose next line's leading blanks collectd drops.
escaped=$(/usr/bin/python3 -c '
import sys
p = sys.argv[1]
half = len(p) // 2
esc = lambda s: "".join("\\" + c for c in s)
print(esc(p[:half]) + "\\\n\t    " + esc(p[half:]))' "$POP3_PASS_FEW")
quoted_escaped=$(/usr/bin/python3 -c '
import sys
print("".join("\\" + c if c in "\"\\" else c for c in sys.argv[1]))' "$quoted_password")

# argv.py, run by the exec plugin as nobody: its arguments, each 'x' and
# hex, under argv/<hex of the first>, written whole.
cat > "$dir/argv.py" <<'PY'
#!/usr/bin/python3
import os, sys
out = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "argv")
args = [os.fsencode(a) for a in sys.argv[1:]]
line = "exec" + "".join(" x" + a.hex() for a in args) + "\n"
name = os.path.join(out, args[0].hex())
with open(name + ".tmp", "w") as f:
    f.write(line)
os.rename(name + ".tmp", name)
PY
chmod 755 "$dir/argv.py"
chmod 1777 "$dir/argv"

# The values of each Exec line after its case name: collectd.conf syntax
# at its corners (escapes, continued strings, numbers, booleans, addresses,
# comments, characters collectd drops).
/usr/bin/python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
cases = [
    ("esc_any", r'"ab\cd"'), ("esc_backslash", r'"a\\b"'),
    ("esc_quote", r'"a\"b"'), ("esc_t", r'"tab\there"'),
    ("ml", '"multi\\\n    line"'), ("ml3", '"multi\\\nline\\\n\t  three"'),
    ("ml_crlf", '"crlf\\\r\n  x"'), ("ml_quote", '"abc\\\n  "def"'),
    ("raw_newline", '"line1\nline2"'),
    ("numbers", "abc_123 0x1F 010 1e5 -1 +5 1.5 .5 1.5e+3 1.5e3 00 08 0x"),
    ("addresses", "127.0.0.1 127.0.0.1:8080 ::1 [::1]:80 fe80::1 1.2.3 "
                  "1.2.3.4.5 256.1.1.1 12:30"),
    ("booleans", "true yes on false no off True onion ON"),
    ("dropped", "mail.example.com 'single' @a ;b"),
    ("comment", '"a" # comment "b"'), ("hash", '"a#b"'),
    ("continued", '"a" \\\n   "b"'), ("empty", '""'),
    ("adjacent", '"a"b"c"'), ("blanks", '"a"\b"b"\r"c"'),
    ("backslashes", r'"\\\\" "x\\"'), ("utf8", '"\u00e9 \u00fc"'),
]
def block(rows):
    text = "<Plugin exec>\n"
    for name, values in rows:
        text += f'  Exec "nobody" "{d}/argv.py" "{name}" {values}\n'
    return text + "</Plugin>\n"
with open(f"{d}/exec-cases.txt", "w", newline="") as f:
    f.write(block(cases))
# through <Include> with a Filter: the .conf file is read, the other is not
with open(f"{d}/conf.d/10-exec.conf", "w", newline="") as f:
    f.write(block([("included", '"in\\cluded" 42')]).replace("\n", "\r\n"))
with open(f"{d}/conf.d/README", "w") as f:
    f.write("not < a configuration\n")
PY

marker=30.$$ # the sleep of the overrunning command, to find it afterwards
common="Host \"127.0.0.1\"
    Port $POP3_PLAIN_PORT"
monitors=$(cat <<MON
  <Monitor "token-good">
    Spread false
    $common
    User "$POP3_USER_BEARER"
    Auth "xoauth2"
    TokenCommand "/bin/cat" "$token_file"
  </Monitor>
  <Monitor "token-exit-1">
    Spread false
    $common
    User "$POP3_USER_BEARER"
    Auth "oauthbearer"
    TokenCommand "/bin/sh" "-c" "cat '$token_file'; exit 1"
  </Monitor>
  <Monitor "token-slow">
    Spread false
    $common
    User "$POP3_USER_BEARER"
    Auth "xoauth2"
    TokenCommand "/bin/sh" "-c" "sleep $marker; cat '$token_file'"
    Timeout 2
  </Monitor>
MON
)
passwords=$(cat <<MON
  <Monitor "long-password-plain">
    Spread false
    $common
    User "$POP3_USER_BEARER"
    Password "$token"
    Auth "plain"
  </Monitor>
  <Monitor "long-password-login">
    Spread false
    $common
    User "$POP3_USER_BEARER"
    Password "$token"
    Auth "login"
  </Monitor>
  <Monitor "long-password-auto">
    Spread false
    $common
    User "$POP3_USER_BEARER"
    Password "$token"
  </Monitor>
  <Monitor "escaped-password">
    Spread false
    $common
    User "$POP3_USER_FEW"
    Password "$escaped"
  </Monitor>
  <Monitor "quoted-password">
    Spread false
    $common
    User "quoted"
    Password "$quoted_escaped"
    Auth "user"
  </Monitor>
MON
)

# write_config NAME EXEC MONITORS: collectd.conf for a run named NAME
write_config() {
  local name=$1 exec=$2
  {
    cat <<CONF
Hostname "e2e-token"
BaseDir "$dir"
PIDFile "$dir/$name.pid"
Interval 30
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/$name.log"
  Timestamp false
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/$name.csv"
</Plugin>
CONF
    if [[ $exec == exec ]]; then
      printf '<LoadPlugin exec>\n  Interval 1\n</LoadPlugin>\n'
      cat "$dir/exec-cases.txt"
      printf '<Include "%s/conf.d">\n  Filter "*.conf"\n</Include>\n' "$dir"
    fi
    cat <<CONF
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
$3
</Plugin>
CONF
  } > "$dir/$name.conf"
}

csv_value() { # RUN MONITOR FILE_PREFIX: the last value written
  local f
  f=$(find "$dir/$1.csv/e2e-token/pop3-$2" -name "$3-*" 2>/dev/null | head -n 1)
  [[ -n $f ]] || return 1
  tail -n 1 "$f" | cut -d, -f2
}
expect_value() { # RUN MONITOR FILE_PREFIX EXPECTED
  local got
  got=$(csv_value "$1" "$2" "$3") || fail "$1: no $3 value for monitor $2"
  [[ ${got%.*} == "$4" ]] || fail "$1: $2 $3 = $got, expected $4"
}
collected() { # RUN MONITOR COUNT SIZE
  expect_value "$1" "$2" email_count "$3"
  expect_value "$1" "$2" bytes-mailbox_size "$4"
}
expect_log() { # RUN PATTERN (grep -E)
  grep -qE -- "$2" "$dir/$1.log" || fail "$1: no log line matching /$2/"
}
not_collected() { # RUN MONITOR
  ! ls "$dir/$1.csv/e2e-token/pop3-$2"/email_count-* >/dev/null 2>&1 ||
    fail "$1: $2 dispatched a message count"
  expect_value "$1" "$2" bool-available 0
}
port=$POP3_PLAIN_PORT
exit1="monitor \"token-exit-1\" 127\.0\.0\.1:$port: auth: the token command \"/bin/sh\" failed with exit code 1"
# the engine's own deadline and the command's kill race: either names it
slow="monitor \"token-slow\" 127\.0\.0\.1:$port: auth: (the token command \"/bin/sh\" did not finish within the Timeout and was killed|TokenCommand gave no token within the Timeout)"

# --- collectd -T: SIGCHLD ignored, every read once ---------------------------
write_config once none "$monitors"
timeout 60 collectd -T -C "$dir/once.conf" > "$dir/once.stdout" 2>&1 ||
  fail "collectd -T exited with $?"
collected once token-good "$POP3_BEARER_COUNT" "$POP3_BEARER_SIZE"
ok "collectd -T (SIGCHLD ignored): a TokenCommand printing the token and exiting 0 collects exact values"
expect_log once "$exit1"
not_collected once token-exit-1
ok "collectd -T (SIGCHLD ignored): the valid token followed by exit 1 fails the collection, status named"
expect_log once "$slow"
ok "collectd -T: a TokenCommand overrunning the Timeout is killed"

# --- collectd -f with the exec plugin reaping every child -------------------
write_config daemon exec "$monitors
$passwords"
collectd -f -C "$dir/daemon.conf" > "$dir/daemon.stdout" 2>&1 &
collectd_pid=$!
n_cases=$(grep -c '^  Exec ' "$dir/exec-cases.txt")
all_in() {
  local m
  for m in token-good long-password-plain long-password-login \
    long-password-auto escaped-password quoted-password; do
    csv_value daemon "$m" email_count >/dev/null || return 1
  done
  grep -qE -- "$exit1" "$dir/daemon.log" 2>/dev/null || return 1
  grep -qE -- "$slow" "$dir/daemon.log" 2>/dev/null || return 1
  [[ $(find "$dir/argv" -type f ! -name '*.tmp' | wc -l) -ge $((n_cases + 1)) ]]
}
for _ in $(seq 1 300); do # at most 30 s
  all_in && break
  kill -0 "$collectd_pid" 2>/dev/null || fail "collectd -f died"
  sleep 0.1
done
# the exec plugin's handler is installed: SIGCHLD (17) is caught, not ignored
caught=$(awk '/^SigCgt:/ { print $2 }' "/proc/$collectd_pid/status")
(( (16#$caught >> 16) & 1 )) || fail "SIGCHLD is not caught in collectd (SigCgt $caught)"
ok "collectd -f runs with the exec plugin's SIGCHLD handler (SigCgt $caught) and $n_cases+1 Exec programs"

collected daemon token-good "$POP3_BEARER_COUNT" "$POP3_BEARER_SIZE"
ok "exec plugin reaping: a TokenCommand printing the token and exiting 0 collects exact values"
expect_log daemon "$exit1"
not_collected daemon token-exit-1
ok "exec plugin reaping: the valid token followed by exit 1 fails the collection with exit code 1, nothing collected"
expect_log daemon "$slow"
not_collected daemon token-slow
for _ in $(seq 1 20); do
  pgrep -f "sleep $marker" >/dev/null || break
  sleep 0.1
done
! pgrep -f "sleep $marker" >/dev/null || fail "the overrunning command's sleep survived"
ok "exec plugin reaping: a TokenCommand overrunning the Timeout is killed, with what it started"

for m in plain login auto; do
  collected daemon "long-password-$m" "$POP3_BEARER_COUNT" "$POP3_BEARER_SIZE"
done
ok "a ${#token}-byte password logs in through SASL PLAIN, SASL LOGIN and Auth auto"
collected daemon escaped-password "$POP3_FEW_COUNT" "$POP3_FEW_SIZE"
ok "collectd: a password written with \\c escapes and a continued line logs in"
collected daemon quoted-password "$POP3_FEW_COUNT" "$POP3_FEW_SIZE"
ok "collectd: a password with \\\" and \\\\ escapes, '#' and a blank logs in"
stop_collectd || fail "collectd -f did not stop cleanly on SIGTERM"
ok "collectd -f stopped on SIGTERM"

# --- collectd.conf read by the probe as collectd read it ----------------------
"$dump" --dump-exec "$dir/daemon.conf" > "$dir/dump.out" 2> "$dir/dump.stderr" ||
  fail "test_config --dump-exec: $(cat "$dir/dump.stderr")"
[[ $(wc -l < "$dir/dump.out") -eq $((n_cases + 1)) ]] ||
  fail "the reader found $(wc -l < "$dir/dump.out") Exec lines, collectd $((n_cases + 1))"
while read -r line; do
  name=${line#exec x}
  name=${name%% *}
  [[ -f $dir/argv/$name ]] || fail "collectd ran no program for case $name"
  [[ $(cat "$dir/argv/$name") == "$line" ]] ||
    fail "case x$name: collectd passed $(cat "$dir/argv/$name"), the reader read $line"
done < "$dir/dump.out"
ok "the values of $((n_cases + 1)) Exec lines (one through <Include> with a Filter) are collectd's, byte for byte"

probe_run() { # EXPECTED_EXIT MONITOR PATTERN
  local status=0
  "$probe" --config "$dir/daemon.conf" --monitor "$2" > "$dir/probe-$2.out" 2>&1 || status=$?
  [[ $status -eq $1 ]] || fail "pop3-probe --monitor $2 exited $status: $(head -n 1 "$dir/probe-$2.out")"
  grep -qE -- "$3" "$dir/probe-$2.out" || fail "pop3-probe --monitor $2: $(head -n 1 "$dir/probe-$2.out")"
}
probe_run 0 escaped-password "^POP3 OK - .* $POP3_FEW_COUNT messages, $POP3_FEW_SIZE bytes"
probe_run 0 quoted-password "^POP3 OK - .* $POP3_FEW_COUNT messages, $POP3_FEW_SIZE bytes"
ok "pop3-probe --config logs in with the same escaped passwords from the same file"
for m in plain login auto; do
  probe_run 0 "long-password-$m" "^POP3 OK - .* $POP3_BEARER_COUNT messages, $POP3_BEARER_SIZE bytes"
done
ok "pop3-probe --config: the ${#token}-byte password through PLAIN, LOGIN and auto"
probe_run 0 token-good "^POP3 OK - .* $POP3_BEARER_COUNT messages"
probe_run 2 token-exit-1 "^POP3 CRITICAL - .*the token command \"/bin/sh\" failed with exit code 1"
ok "pop3-probe --config: the same TokenCommand verdicts as the daemon"

for secret in "$POP3_PASS_FEW" "$token" "$quoted_password"; do
  ! grep -qF -- "$secret" "$dir"/*.log "$dir"/*.stdout "$dir"/probe-*.out ||
    fail "a password or token reached a log"
done
ok "no password or token in collectd's log or the probe's output"

echo "# e2e-token: $passed checks passed"
