#!/usr/bin/env bash
# The man page collectd-pop3(5): its POD is clean (podchecker), the generated
# page renders without a groff warning (man --warnings) and has a NAME line
# whatis can index (lexgrog), and it documents every option, metric and error
# message that README.md documents (and no option README.md does not).
#
# usage: tests/e2e/man-check.sh doc/collectd-pop3.5.pod build/collectd-pop3.5
set -euo pipefail
pod=$1 page=$2
here=$(cd "$(dirname "$0")" && pwd)
readme=$here/../../README.md
passed=0
fail() { echo "FAIL: $*"; exit 1; }
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

out=$(podchecker "$pod" 2>&1) || fail "podchecker: $out"
! grep -q 'WARNING' <<<"$out" || fail "podchecker: $out"
ok "podchecker: $pod has no error and no warning"

warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) ||
  fail "man -l $page failed: $warn"
[[ -z $warn ]] || fail "man --warnings: $warn"
ok "man --warnings: $page renders without a warning"

whatis=$(lexgrog "$page") || fail "lexgrog cannot parse the NAME section: $whatis"
ok "lexgrog: ${whatis#*: }"

head -n 200 "$page" | grep -q '^\.TH COLLECTD-POP3 5 ' || fail "no .TH COLLECTD-POP3 5 line"
ok "section 5 page titled COLLECTD-POP3"

# README.md and the POD must agree; the comparison runs on the rendered text
# (pod2text, no quote marks, whitespace collapsed) so wrapping does not matter.
/usr/bin/python3 - "$readme" "$pod" <<'EOF' || fail "README.md and the man page disagree"
import re, subprocess, sys

readme = open(sys.argv[1], encoding="utf-8").read()
pod = open(sys.argv[2], encoding="utf-8").read()
text = subprocess.run(["pod2text", "--quotes=none", sys.argv[2]], check=True,
                      capture_output=True, text=True).stdout
flat = " ".join(text.split())
problems = []

def section(md, title):
    m = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    if not m:
        problems.append(f"README.md has no '## {title}' section")
        return ""
    return m.group(1)

def first_cells(md):
    """Backticked spans of the first column of every table row."""
    for line in md.splitlines():
        if line.startswith("| `"):
            cell = line.split(" | ")[0]
            yield from re.findall(r"`([^`]+)`", cell)

# Options: README's table vs the =item lines of the POD's OPTIONS section.
m = re.search(r"^=head1 OPTIONS\n(.*?)^=head1 ", pod, re.S | re.M)
pod_opts = set()
for item in re.findall(r"^=item (.*)$", m.group(1) if m else "", re.M):
    name = re.sub(r"E<lt>|[A-Z]<+|>+", " ", item).split()[0]
    pod_opts.add(name)
# README.md names the options in prose (the man page describes them):
# every backticked option name of its Configuration section, code blocks
# left out.
readme_opts = set()
prose = re.sub(r"```.*?```", "", section(readme, "Configuration"), flags=re.S)
for span in re.findall(r"`([^`]+)`", prose):
    name = re.sub(r"[<>\"]", " ", span).split()
    if name and re.fullmatch(r"[A-Z][A-Za-z]+", name[0]):
        readme_opts.add(name[0])
for o in sorted(readme_opts - pod_opts):
    problems.append(f"option {o} is in README.md but not in the man page's OPTIONS")
for o in sorted(pod_opts - readme_opts):
    problems.append(f"option {o} is in the man page but not in README.md's table")
print(f"options: {len(readme_opts)} in README.md, {len(pod_opts)} in the man page")

# Metrics: every name and type of README's table appears in the man page.
dispatched = section(readme, "What is dispatched")
metrics = []
for line in dispatched.splitlines():
    if line.startswith("|") and not line.startswith("|---") and "metric" not in line:
        cells = [c.strip() for c in line.strip("|").split("|")]
        metrics.append(cells[0])
        metrics += re.findall(r"`([^`]+)`", cells[1])
for t in metrics:
    if t not in flat:
        problems.append(f"metric/type {t!r} of README.md is not in the man page")
print(f"metrics and types: {len(metrics)} checked")

# Error messages: every backticked message of README's table, verbatim.
errors = list(first_cells(section(readme, "Error messages")))
# and the configuration errors README quotes
errors += re.findall(r"^(pop3 plugin: .*)$", readme, re.M)
errors += [s for s in re.findall(r"`(pop3 plugin: [^`]+)`", readme)]
for e in errors:
    if " ".join(e.split()) not in flat:
        problems.append(f"error message not in the man page: {e}")
print(f"error messages: {len(errors)} checked")

for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
ok "every option, metric and error message of README.md is in the man page"
echo "# man-check: $passed checks passed"
