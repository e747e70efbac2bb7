#!/usr/bin/env bash
# check-secrets.sh [DIR...]: no test password in any log or output the suites
# kept (default: $POP3_TEST_LOGS, else build/test-logs). Run last in
# `make check`.
#
# The passwords: every line of the *.secrets files the suites write
# (test_faults, soak), every POP3_PASS_* and POP3_TOKEN_* of the Dovecot
# harness's kept env files, and the fixed ones of the test sources (fake_pop3.py's default,
# e2e's and test_integration's wrong passwords). The files grepped: every
# regular file under DIR except those that hold passwords on purpose
# (*.secrets, env, *.pass, *.password, *.key, *.pem). Exit 1, naming file
# and line (the password masked), when one is found.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [[ $# -eq 0 ]]; then
  set -- "${POP3_TEST_LOGS:-$root/build/test-logs}"
fi
for d in "$@"; do
  [[ -d $d ]] || { echo "secrets: no such directory: $d"; exit 1; }
done

secrets=$(mktemp /tmp/pop3-secrets.XXXXXX)
files=$(mktemp /tmp/pop3-secret-files.XXXXXX)
trap 'rm -f "$secrets" "$files"' EXIT
{
  # fake_pop3.py's default password, e2e's and test_integration's wrong ones
  printf '%s\n' secret Wrong-Pass-e2e not-the-Password-42
  find "$@" -type f -name '*.secrets' -exec cat {} + 2>/dev/null || true
  # the harness's passwords and bearer tokens (not the token files' paths)
  find "$@" -type f -name env -exec awk -F= '
    ($1 ~ /^POP3_PASS_/ || ($1 ~ /^POP3_TOKEN_/ && $1 !~ /^POP3_TOKEN_FILE_/)) {
      sub(/^[^=]*=/, ""); print }' {} + 2>/dev/null || true
} | awk 'length($0) >= 4' | sort -u > "$secrets"

find "$@" -type f ! -name '*.secrets' ! -name env ! -name '*.pass' \
  ! -name '*.password' ! -name '*.key' ! -name '*.pem' -print0 > "$files"
nfiles=$(tr -cd '\0' < "$files" | wc -c)
bytes=$(xargs -0 -r cat < "$files" | wc -c)
nsecrets=$(wc -l < "$secrets")

found=0
while IFS= read -r secret; do
  # "secret" is also an English word: for it, only a password-like use
  # counts (as a whole word after PASS, or quoted)
  if [[ $secret == secret ]]; then
    pattern='(PASS|[Pp]assword)[ :=]+"?secret\b|"secret"'
    hits=$(xargs -0 -r grep -n -H -E -- "$pattern" < "$files" || true)
  else
    hits=$(xargs -0 -r grep -n -H -F -- "$secret" < "$files" || true)
  fi
  if [[ -n $hits ]]; then
    found=$((found + 1))
    masked=${secret:0:2}***
    echo "secrets: password $masked found:"
    printf '%s\n' "$hits" | sed "s/$(printf '%s' "$secret" | sed 's/[][\.*^$/]/\\&/g')/$masked/g" | head -n 5
  fi
done < "$secrets"

if [[ $found -ne 0 ]]; then
  echo "secrets: FAILED: $found password(s) in the logs"
  exit 1
fi
echo "secrets: $nsecrets test passwords, none in $nfiles files ($bytes bytes) under $*"
