#!/usr/bin/env bash
# pop3-probe against the test Dovecot: its Nagios-style first line, perfdata,
# details and exit codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
probe=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

dir=$(mktemp -d /tmp/pop3-probe.XXXXXX)
chmod 755 "$dir"
trap '"$here/../harness/dovecot.sh" stop "$dir/dovecot" >/dev/null 2>&1 || true; "$here/../harness/keep-logs.sh" "$dir" "probe-$(basename "$(dirname "$probe")")"; rm -rf "$dir"' EXIT
mkdir "$dir/dovecot"
"$here/../harness/dovecot.sh" start "$dir/dovecot" >/dev/null
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a

passed=0
# a user whose password needs escaping in collectd.conf: quotes,
# backslashes, a hash and a blank (Dovecot reads its passwd-file again)
quoted_password="Pq\"uo\\te\\\\d\"#x y$RANDOM$RANDOM\\"
printf 'quoted:{PLAIN}%s::::%s/home/few::\n' "$quoted_password" "$POP3_TEST_DIR" >> "$POP3_TEST_DIR/passwd"
# run EXPECTED_EXIT ARGS...: runs the probe, keeps its output in $out
run() {
  local want=$1 status=0
  shift
  out=$("$probe" "$@" 2>"$dir/stderr") || status=$?
  if [[ $status -ne $want ]]; then
    echo "FAIL: exit $status, expected $want: pop3-probe $*"
    echo "$out"
    exit 1
  fi
  for secret in "$POP3_PASS_FEW" "$POP3_PASS_MANY" "$POP3_PASS_EMPTY" "$quoted_password"; do
    if grep -qF -- "$secret" <<<"$out" "$dir/stderr"; then
      echo "FAIL: a password in the output"
      exit 1
    fi
  done
}
expect() { # PATTERN DESCRIPTION
  if ! grep -qE -- "$1" <<<"$out"; then
    echo "FAIL: $2: no match for /$1/ in:"
    echo "$out"
    exit 1
  fi
  passed=$((passed + 1))
  echo "ok $passed - $2"
}

few=(--user "$POP3_USER_FEW" --password-file "$POP3_PASSWORD_FILE_FEW")
run 0 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" --name inbox "${few[@]}"
expect "^POP3 OK - monitor \"inbox\" 127.0.0.1:$POP3_PLAIN_PORT: $POP3_FEW_COUNT messages, $POP3_FEW_SIZE bytes in [0-9.]+ s \| messages=$POP3_FEW_COUNT;;;0 size=${POP3_FEW_SIZE}B;;;0 time=[0-9.]+s;;;0$" \
  "plain: OK line with exact count, size and perfdata"
expect "^  email_count = $POP3_FEW_COUNT$" "prints what the plugin would dispatch"
expect "^  bytes/mailbox_size = $POP3_FEW_SIZE$" "prints the mailbox size"
expect "^phases \(s\): resolve [0-9.]+ connect [0-9.]+ greeting [0-9.]+ auth [0-9.]+ stat [0-9.]+$" "prints the phase timings"
expect "^capabilities: .*PIPELINING" "prints the capabilities"

run 0 --host localhost --port "$POP3S_PORT" --ssl --cacert "$POP3_TEST_CA" "${few[@]}"
expect "^POP3 OK - .* $POP3_FEW_COUNT messages, $POP3_FEW_SIZE bytes" "implicit TLS: OK"
expect "^peer: .*TLSv1\.[23]" "prints the TLS version"
expect "^certificate expires: [0-9-]+ [0-9:]+ UTC \(in [0-9.]+ days\)$" "prints the certificate expiry"

(umask 077 && echo "$POP3_PASS_MANY" > "$dir/many.password")
run 0 --host ::1 --port "$POP3_PLAIN_PORT" --starttls --cacert "$POP3_TEST_CA" \
  --user "$POP3_USER_MANY" --password-file "$dir/many.password"
expect "^POP3 OK - .*\[::1\]:$POP3_PLAIN_PORT: $POP3_MANY_COUNT messages, $POP3_MANY_SIZE bytes" "StartTLS over IPv6: OK"

# a pipe (process substitution) is read once; a device is refused at once,
# as PasswordFile is in collectd
run 0 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" --user "$POP3_USER_MANY" \
  --password-file <(echo "$POP3_PASS_MANY")
expect "^POP3 OK - .* $POP3_MANY_COUNT messages, $POP3_MANY_SIZE bytes" \
  "a pipe as --password-file (<(command)): its line is the password"
# the flags become collectd.conf text read by collectd's rules: every value
# is quoted and escaped so that it reads back as it was given
run 0 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" --user quoted \
  --password-file <(printf '%s\n' "$quoted_password")
expect "^POP3 OK - .* $POP3_FEW_COUNT messages, $POP3_FEW_SIZE bytes" \
  "a password with quotes, backslashes, '#' and a blank (from a pipe) logs in"
run 0 --host 127.0.0.1 --port "$(printf '0x%x' "$POP3_PLAIN_PORT")" --timeout 4e0 \
  --name 'in"bo\x #1' "${few[@]}"
expect "^POP3 OK - monitor \"in\"bo\\\\x #1\" 127.0.0.1:$POP3_PLAIN_PORT: $POP3_FEW_COUNT messages" \
  "numbers as strtod reads them (0x..., 4e0) and a name with a quote and a backslash"
run 3 --host 'mail"\.example.com' --user x --password-file /etc/hostname
expect "^POP3 UNKNOWN - monitor \"probe\": option Host: \"mail\"\\\\\.example\.com\" contains characters not allowed" \
  "a host with a quote and a backslash reaches the checks as given"
run 3 --host 127.0.0.1 --user x --password-file /etc/hostname --timeout nan
expect "^POP3 UNKNOWN - not a number: nan" "NaN, which no configuration can hold: UNKNOWN"
run 3 --host 127.0.0.1 --user x --password-file <(true)
expect "^POP3 UNKNOWN - --password-file /dev/fd/[0-9]+: no password line" \
  "a pipe that gives no line: UNKNOWN"
run 3 --host 127.0.0.1 --user x --password-file /dev/zero
expect "^POP3 UNKNOWN - monitor \"probe\": option PasswordFile: \"/dev/zero\" is not a regular file" \
  "a device as --password-file: UNKNOWN"

run 1 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" "${few[@]}" --warning $((POP3_FEW_COUNT - 1))
expect "^POP3 WARNING - .*messages=$POP3_FEW_COUNT;$((POP3_FEW_COUNT - 1));;0" "count above --warning: WARNING, exit 1"
run 2 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" "${few[@]}" --warning 0 --critical $((POP3_FEW_COUNT - 1))
expect "^POP3 CRITICAL - .*$POP3_FEW_COUNT messages" "count above --critical: CRITICAL, exit 2"
run 0 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" "${few[@]}" --warning "$POP3_FEW_COUNT:"
expect "^POP3 OK" "a range the count is inside: OK"
run 1 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" "${few[@]}" --warning "@0:$POP3_FEW_COUNT"
expect "^POP3 WARNING" "an @inside range: WARNING"

run 2 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" --user "$POP3_USER_FEW" --password-file /etc/hostname
expect "^POP3 CRITICAL - monitor \"probe\" 127.0.0.1:$POP3_PLAIN_PORT: auth: server refused the .*login \[AUTH\]" \
  "wrong password: CRITICAL with the plugin's error text"
run 2 --host localhost --port "$POP3S_PORT" --ssl "${few[@]}"
expect "^POP3 CRITICAL - .*tls: certificate verification failed: unknown issuer" "unknown CA: CRITICAL"
run 2 --host 127.0.0.1 --port "$POP3_NOSTLS_PORT" --starttls --cacert "$POP3_TEST_CA" "${few[@]}"
expect "^POP3 CRITICAL - .*tls: StartTLS required but the server does not offer STLS" "STLS missing: CRITICAL"

# a collectd configuration, as Debian lays it out: the pop3 block in
# collectd.conf.d, pulled in by <Include> with a Filter; the password
# written with backslash escapes and continued on a second line
mkdir "$dir/collectd.conf.d"
cat > "$dir/collectd.conf" <<CONF
LoadPlugin pop3
<Include "$dir/collectd.conf.d">
  Filter "*.conf"
</Include>
CONF
echo 'not a configuration <' > "$dir/collectd.conf.d/pop3.conf.example"
escaped=$(sed 's/./\\&/g' <<<"$POP3_PASS_MANY") # a backslash before each
cat > "$dir/collectd.conf.d/pop3.conf" <<CONF
<Plugin pop3>
  <Monitor "support-inbox">
    Host "::1"
    Port $POP3_PLAIN_PORT
    StartTLS true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_MANY"
    Password "${escaped:0:10}\\
      ${escaped:10}"
    Description "Ticket intake"
  </Monitor>
  <Monitor "broken">
    Host "pop3://example.com"
  </Monitor>
</Plugin>
CONF
run 0 --config "$dir/collectd.conf" --monitor support-inbox
expect "^POP3 OK - monitor \"support-inbox\" \(Ticket intake\) \[::1\]:$POP3_PLAIN_PORT: $POP3_MANY_COUNT messages, $POP3_MANY_SIZE bytes" \
  "--config/--monitor reads collectd's configuration (Include, escapes, a continued string)"
run 3 --config "$dir/collectd.conf" --monitor broken
expect "^POP3 UNKNOWN - monitor \"broken\": option Host: \"pop3://example.com\" must not carry a scheme" \
  "an invalid block: UNKNOWN with the plugin's config error"
run 3 --config "$dir/collectd.conf" --monitor absent
expect "^POP3 UNKNOWN - no <Monitor \"absent\"> inside <Plugin pop3>" "a missing monitor: UNKNOWN"
run 3 --host 127.0.0.1 --bogus
expect "^POP3 UNKNOWN - bad usage" "bad usage: UNKNOWN, exit 3"
run 3 --host 127.0.0.1 --user x --password-file /etc/hostname --timeout soon
expect "^POP3 UNKNOWN - not a number: soon" "a bad number: UNKNOWN"
run 3 --host 127.0.0.1 --user x --password-file /etc/hostname --warning 5:1
expect "^POP3 UNKNOWN - not a threshold range: 5:1" "a bad range: UNKNOWN"
# message age: the test Dovecot's messages arrived 10 minutes apart, the
# last 10 minutes before it started (top-most Received:)
many_pw="$dir/many.password"
printf '%s\n' "$POP3_PASS_MANY" > "$many_pw"
many=(--host 127.0.0.1 --port "$POP3_PLAIN_PORT" --user "$POP3_USER_MANY" --password-file "$many_pw")
before=$(date +%s)
run 1 "${many[@]}" --age-warning 3600 --age-critical 100000000 --age-scan 2
after=$(date +%s)
expect "^POP3 WARNING - .*: $POP3_MANY_COUNT messages, $POP3_MANY_SIZE bytes in [0-9.]+ s, oldest [0-9]+ s old, newest [0-9]+ s \| .* oldest=[0-9]+s;3600;100000000;0 newest=[0-9]+s;;;0$" \
  "age: WARNING over the oldest message's age, with perfdata"
oldest=$(sed -n 's/.*oldest=\([0-9]*\)s.*/\1/p' <<<"$out")
newest=$(sed -n 's/.*newest=\([0-9]*\)s.*/\1/p' <<<"$out")
if (( oldest < before - POP3_MANY_FIRST_DATE - 1 || oldest > after - POP3_MANY_FIRST_DATE + 1 ||
      newest < before - POP3_MANY_LAST_DATE - 1 || newest > after - POP3_MANY_LAST_DATE + 1 )); then
  echo "FAIL: age $oldest/$newest s, expected $((before - POP3_MANY_FIRST_DATE))/$((before - POP3_MANY_LAST_DATE)) s (+ the run)"
  exit 1
fi
passed=$((passed + 1)); echo "ok $passed - age: oldest $oldest s and newest $newest s match the dates written"
expect "^  duration/oldest_message = [0-9]+ \(Received: field\)$" "age: the values the plugin would dispatch, from Received:"
expect "^message age: 4 header\(s\) read, 4 dated$" "age: --age-scan 2 reads two headers at each end"
run 2 "${many[@]}" --age-critical 3600
expect "^POP3 CRITICAL - .*oldest [0-9]+ s old" "age: CRITICAL over the critical range"
empty_pw="$dir/empty.password"
printf '%s\n' "$POP3_PASS_EMPTY" > "$empty_pw"
run 0 --host 127.0.0.1 --port "$POP3_PLAIN_PORT" --user "$POP3_USER_EMPTY" --password-file "$empty_pw" --age-critical 1
expect "^POP3 OK - .*: 0 messages, 0 bytes in [0-9.]+ s \| messages=0;;;0 size=0B;;;0 time=[0-9.]+s;;;0$" \
  "age: an empty mailbox has no old message, and no age perfdata"
run 3 "${many[@]}" --age-warning 10:1
expect "^POP3 UNKNOWN - not a threshold range: 10:1" "age: a bad range: UNKNOWN"
run 3 "${many[@]}" --age-scan 17
expect "^POP3 UNKNOWN - .*MessageAgeScan: 17 is not a whole number from 1 to 16" "age: --age-scan is checked like MessageAgeScan"
run 0 --help
expect "^usage: pop3-probe" "--help prints the usage"
echo "# probe: $passed checks passed"
