#!/usr/bin/env bash
# The Debian package, end to end:
#   1. build it with `dpkg-buildpackage -us -uc -b` in a copy of the tree (the
#      repository gets no build artefacts) and copy the .deb into OUTDIR;
#   2. check what it holds and depends on;
#   3. install it (apt-get install ./x.deb), run `collectd -T` against the
#      Dovecot test harness with the INSTALLED plugin (collectd's own plugin
#      directory: no PluginDir in the config) and check the values in csv;
#   4. purge it and check that no file it installed is left.
#
# usage: tests/e2e/deb.sh [--build-only] OUTDIR
# Steps 3-4 need root and change the machine (then restore it): they run
# under a lock so that two runs never install at the same time. A plugin a
# `make install` left in collectd's directory is set aside and put back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build_only=0
if [[ ${1:-} == --build-only ]]; then build_only=1; shift; fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--build-only] OUTDIR" >&2; exit 2; }
mkdir -p "$1"
outdir=$(cd "$1" && pwd)

PKG=collectd-pop3
PY=/usr/bin/python3
BUILD_TIMEOUT=600 # seconds for dpkg-buildpackage
LOCK=/run/lock/collectd-pop3-deb-check.lock
LOCK_WAIT=600     # seconds to wait for another run to finish

dir=$(mktemp -d /tmp/pop3-deb.XXXXXX)
chmod 755 "$dir" # Dovecot's unprivileged processes must traverse it
installed_by_us=0
aside=()          # files a `make install` left, moved aside during the test
t_start=$(date +%s.%N)

cleanup() {
  local f
  if ((installed_by_us)); then
    dpkg --purge "$PKG" >/dev/null 2>&1 || true
  fi
  for f in "${aside[@]}"; do
    [[ -e $dir/aside$f ]] && mkdir -p "$(dirname "$f")" && mv "$dir/aside$f" "$f"
  done
  "$here/../harness/dovecot.sh" stop "$dir/dovecot" 2>/dev/null || true
  "$here/../harness/keep-logs.sh" "$dir" deb
  rm -rf "$dir"
}
trap cleanup EXIT

passed=0
fail() {
  echo "FAIL: $*"
  local f
  for f in "$dir"/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f (last 40 lines):"
    tail -n 40 "$f"
  done
  exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
elapsed() { "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }

# --- 1. build in a copy of the tree ----------------------------------------
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=${PKG}_${version}_${arch}.deb
src=$dir/src/$PKG-$version
mkdir -p "$src"
# The working tree as it is (committed or not), without build output or .git.
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$top" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$src"
else
  tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
t_build=$(date +%s.%N)
(cd "$src" && timeout "$BUILD_TIMEOUT" dpkg-buildpackage -us -uc -b) >"$dir/build.log" 2>&1 ||
  fail "dpkg-buildpackage -us -uc -b failed"
[[ -f $dir/src/$deb ]] || fail "no $deb after the build: $(ls "$dir/src")"
cp "$dir/src/$deb" "$outdir/$deb"
ok "dpkg-buildpackage -us -uc -b built $deb in $(elapsed "$t_build") s (in a copy of the tree)"

# --- 2. contents and metadata --------------------------------------------------
contents=$(dpkg-deb -c "$outdir/$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
for f in /usr/lib/collectd/pop3.so /etc/collectd/collectd.conf.d/pop3.conf.example \
  /usr/share/man/man5/collectd-pop3.5.gz /usr/share/doc/$PKG/copyright; do
  grep -qxF "$f" <<<"$contents" || fail "$deb lacks $f: $contents"
done
ok "$deb holds pop3.so, pop3.conf.example, collectd-pop3(5) and the copyright file"
# the probe travels with the package when the build made it
if [[ -f $src/build/pop3-probe ]]; then
  grep -qxF /usr/bin/pop3-probe <<<"$contents" || fail "$deb lacks /usr/bin/pop3-probe"
  ok "$deb holds /usr/bin/pop3-probe (built by make)"
fi
depends=$(dpkg-deb -f "$outdir/$deb" Depends)
[[ $depends == *collectd-core* && $depends == *libssl3* && $depends == *libc6* ]] ||
  fail "Depends: $depends"
ok "Depends: $depends"
conffiles=$(dpkg-deb -e "$outdir/$deb" "$dir/control" && cat "$dir/control/conffiles")
[[ $conffiles == */etc/collectd/collectd.conf.d/pop3.conf.example* ]] ||
  fail "conffiles: $conffiles"
ok "the example configuration is a conffile"
if ((build_only)); then
  echo "# deb: $outdir/$deb"
  exit 0
fi

# --- 3. install, run with the installed plugin ----------------------------
[[ $(id -u) -eq 0 ]] || fail "deb-check installs a package: run it as root"
exec 9>"$LOCK"
flock -w "$LOCK_WAIT" 9 || fail "another deb-check held $LOCK for ${LOCK_WAIT}s"
status=$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null || true)
[[ $status != *installed* && $status != *config-files* ]] ||
  fail "$PKG is already on this machine ($status); deb-check installs and purges it: run dpkg --purge $PKG first"
# files a `make install` put where the package goes: set aside, put back
while read -r f; do
  if [[ -f $f || -L $f ]] && ! dpkg-query -S "$f" >/dev/null 2>&1; then
    mkdir -p "$dir/aside$(dirname "$f")"
    mv "$f" "$dir/aside$f"
    aside+=("$f")
  fi
done <<<"$contents"
((${#aside[@]} == 0)) || echo "# set aside until the end: ${aside[*]}"

export DEBIAN_FRONTEND=noninteractive
installed_by_us=1
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 \
  "$outdir/$deb" >"$dir/install.log" 2>&1 || fail "apt-get install ./$deb failed"
[[ $(dpkg-query -W -f='${Status} ${Version}' "$PKG") == "install ok installed $version" ]] ||
  fail "dpkg does not list $PKG $version as installed"
ok "apt-get install ./$deb: $PKG $version installed"
files=$(dpkg -L "$PKG")
plugin_dir=$(collectd -h | sed -n 's/^ *Plugin directory *//p')
grep -qxF "$plugin_dir/pop3.so" <<<"$files" || fail "pop3.so not in collectd's plugin directory $plugin_dir"
[[ -f $plugin_dir/pop3.so ]] || fail "$plugin_dir/pop3.so missing"
ok "pop3.so is in collectd's plugin directory ($plugin_dir)"
if [[ -f /usr/share/man/man5/collectd-pop3.5.gz ]]; then # dpkg may be told to skip man pages
  warn=$(MANWIDTH=80 man --warnings 5 collectd-pop3 2>&1 >/dev/null) || fail "man 5 collectd-pop3: $warn"
  [[ -z $warn ]] || fail "man --warnings 5 collectd-pop3: $warn"
  ok "man 5 collectd-pop3 opens the installed page without a warning"
fi

mkdir -p "$dir/dovecot"
"$here/../harness/dovecot.sh" start "$dir/dovecot" >"$dir/dovecot-start.log" 2>&1 ||
  fail "tests/harness/dovecot.sh start failed: $(cat "$dir/dovecot-start.log")"
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
# No PluginDir: collectd loads every plugin from its own directory, so pop3
# is the one the package installed.
cat >"$dir/collectd.conf" <<CONF
Hostname "deb-host"
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/csv"
</Plugin>
LoadPlugin pop3
<Plugin pop3>
  <Monitor "few">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    PasswordFile "$POP3_PASSWORD_FILE_FEW"
  </Monitor>
  <Monitor "many">
    Spread false
    Host "localhost"
    Port $POP3S_PORT
    SSL true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_MANY"
    Password "$POP3_PASS_MANY"
    Timeout 10
  </Monitor>
  <Monitor "empty">
    Spread false
    Host "::1"
    Port $POP3_PLAIN_PORT
    StartTLS true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_EMPTY"
    Password "$POP3_PASS_EMPTY"
  </Monitor>
</Plugin>
CONF
! grep -q PluginDir "$dir/collectd.conf" || fail "the test config must not set PluginDir"
timeout 120 collectd -T -C "$dir/collectd.conf" >"$dir/collectd-T.log" 2>&1 ||
  fail "collectd -T with the installed plugin exited with $?"
grep -q 'plugin "pop3" successfully loaded' "$dir/collectd.log" || fail "pop3 not loaded"
ok "collectd -T loaded the installed pop3.so and exited 0"
csv() { # MONITOR FILE_PREFIX: the last value
  local f
  f=$(ls "$dir/csv/deb-host/pop3-$1/$2"-* 2>/dev/null | head -n 1)
  [[ -n $f ]] || return 1
  tail -n 1 "$f" | cut -d, -f2
}
for e in "few email_count $POP3_FEW_COUNT" "few bytes-mailbox_size $POP3_FEW_SIZE" \
  "many email_count $POP3_MANY_COUNT" "many bytes-mailbox_size $POP3_MANY_SIZE" \
  "empty email_count $POP3_EMPTY_COUNT" "empty bytes-mailbox_size $POP3_EMPTY_SIZE"; do
  read -r m t v <<<"$e"
  got=$(csv "$m" "$t") || fail "no csv value for $m $t"
  [[ ${got%.*} == "$v" && ${got#*.} =~ ^0*$ ]] || fail "$m $t = $got, expected $v"
  ok "installed plugin: pop3-$m/$t = $got"
done
# the probe, when the package has it (make builds it): the installed binary
if grep -qxF /usr/bin/pop3-probe <<<"$files"; then
  [[ $(command -v pop3-probe) == /usr/bin/pop3-probe ]] || fail "pop3-probe is not /usr/bin/pop3-probe on PATH"
  probe_status=0
  pop3-probe --host 127.0.0.1 --port "$POP3_PLAIN_PORT" --user "$POP3_USER_FEW" \
    --password-file "$POP3_PASSWORD_FILE_FEW" >"$dir/probe.log" 2>&1 || probe_status=$?
  [[ $probe_status -eq 0 ]] || fail "installed pop3-probe exited $probe_status: $(cat "$dir/probe.log")"
  grep -q "^POP3 OK - .*: $POP3_FEW_COUNT messages, $POP3_FEW_SIZE bytes" "$dir/probe.log" ||
    fail "installed pop3-probe: $(head -n 1 "$dir/probe.log")"
  ok "installed /usr/bin/pop3-probe: $(head -n 1 "$dir/probe.log" | cut -d'|' -f1)"
fi
"$here/../harness/dovecot.sh" stop "$dir/dovecot"

# --- 4. purge: nothing is left ---------------------------------------------
# every file must vanish, and every directory no other package owns (unless
# something that did not come from the package lives in it)
own_files=() own_dirs=()
while read -r f; do
  [[ -n $f && $f != /. ]] || continue
  if [[ -d $f && ! -L $f ]]; then
    [[ $(dpkg-query -S "$f" 2>/dev/null) == "$PKG: $f" ]] && own_dirs+=("$f")
  else
    own_files+=("$f")
  fi
done <<<"$files"
apt-get purge -y -q -o DPkg::Lock::Timeout=120 "$PKG" >"$dir/purge.log" 2>&1 ||
  fail "apt-get purge $PKG failed"
installed_by_us=0
status=$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null || true)
[[ -z $status || $status == "unknown ok not-installed" ]] || fail "after purge dpkg says: $status"
left=()
for f in "${own_files[@]}"; do
  if [[ -e $f || -L $f ]]; then left+=("$f"); fi
done
for d in "${own_dirs[@]}"; do
  if [[ -d $d && -z $(ls -A "$d") ]]; then left+=("$d/"); fi
done
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
! compgen -G "/var/lib/dpkg/info/$PKG.*" >/dev/null || fail "dpkg still has /var/lib/dpkg/info/$PKG.*"
ok "apt-get purge $PKG: none of its ${#own_files[@]} files and ${#own_dirs[@]} own directories is left (test -e after dpkg -L before)"
echo "# deb-check: $passed checks passed in $(elapsed "$t_start") s ($outdir/$deb)"
