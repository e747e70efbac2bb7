#!/usr/bin/env bash
# conffile-vs-collectd.sh BUILD/test_config: the configuration reader
# (src/probe/pop3_conffile.c, used by pop3-probe and the tests) against the
# real collectd 5.12 daemon, row by row. Each row is a configuration
# snippet (escapes, continued lines, numbers, booleans, unquoted words,
# addresses, nested blocks, Include, and what the reader's writer produces);
# collectd reads it with `collectd -T`, and its python plugin hands the
# parsed tree to a module that dumps it as JSON; `test_config --dump` dumps
# the reader's tree of the same file. The two must be equal value by value
# (strings byte for byte, numbers exactly, booleans), or both must refuse
# the file. Needs collectd-core (collectd and its python plugin).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dump=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[[ -x $dump ]] || { echo "conffile-vs-collectd: $dump is not built"; exit 1; }
command -v collectd >/dev/null || { echo "conffile-vs-collectd: no collectd"; exit 1; }
[[ -f /usr/lib/collectd/python.so ]] ||
  { echo "conffile-vs-collectd: no /usr/lib/collectd/python.so"; exit 1; }

dir=$(mktemp -d /tmp/pop3-conffile-vs-collectd.XXXXXX)
trap '"$here/../harness/keep-logs.sh" "$dir" conffile-vs-collectd; rm -rf "$dir"' EXIT

/usr/bin/python3 - "$dir" "$dump" <<'PY'
import json, os, subprocess, sys

d, dump = sys.argv[1], sys.argv[2]

# The module collectd's python plugin runs: each <Module confdump> block it
# is given becomes one JSON line, in the same shape as test_config --dump.
with open(f"{d}/confdump.py", "w") as f:
    f.write('''import collectd, json, os
def value(v):
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, float):
        return {"n": "%.17g" % v}
    if isinstance(v, bytes):  # not UTF-8: the plugin hands over the bytes
        return {"s": v.hex()}
    return {"s": v.encode("utf-8").hex()}
def item(c):
    return {"key": c.key, "values": [value(v) for v in c.values],
            "children": [item(x) for x in c.children]}
def config(conf):
    with open(os.environ["CONFDUMP_OUT"], "a") as f:
        f.write(json.dumps([item(c) for c in conf.children]) + "\\n")
collectd.register_config(config, name="confdump")
''')

PREAMBLE = f'''Hostname "conffile-vs-collectd"
BaseDir "{d}"
PIDFile "{d}/collectd.pid"
<LoadPlugin python>
  Globals true
</LoadPlugin>
<Plugin python>
  ModulePath "{d}"
  Import "confdump"
</Plugin>
'''.encode()

def module(body):
    """body inside the block the dump module is given"""
    return b"<Plugin python>\n<Module confdump>\n" + body + b"</Module>\n</Plugin>\n"

def put(name, data):
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path

# Files the Include rows read.
put("inc/10-a.conf", module(b'  From "a" 1\n'))
put("inc/20-b.conf", module(b'  From "b" true\n'))
put("inc/notes.txt", b"not < a configuration\n")
put("inc/.hidden.conf", b"Broken \"\n<\n")
put("crlf/only.conf", b'<Plugin python>\r\n<Module confdump>\r\n'
    b'  From "crlf" \\\r\n  "continued"\r\n</Module>\r\n</Plugin>\r\n')
put("nest/one.conf", module(b'  From "one"\n') + f'Include "{d}/nest/two.conf"\n'.encode())
put("nest/two.conf", module(b'  From "two"\n'))
put("broken-last/10-good.conf", module(b'  From "good"\n'))
put("broken-last/20-bad.conf", module(b'  From\n'))
put("broken/10-good.conf", module(b'  From "good"\n'))
put("broken/20-bad.conf", module(b'  From\n'))
put("broken/30-good.conf", module(b'  From "also good"\n'))

# The writer's values (pop3-probe writes its flags with it): strings that
# need escaping, and numbers as strtod reads them.
written_strings = ['pa"ss', 'back\\slash', '\\', '\\\\', '"', 'end\\',
                   'a\\\nb', 'line\nbreak', 'cr\r\nlf', ' #x <y> ', '\u00e9\u00fc',
                   '', 'true', '10', 'Pq"uo\\te\\\\d"#x y\\']
written_numbers = ['0', '-0', '1', '110', '3600', '65535', '2.5', '-110.5',
                   '0.1', '0.3333333333333333', '1e-7', '1e20', '5e-324',
                   '1.7976931348623157e308', '1e999', '-1e999', '0x1F', '4e0']
args = [dump, "--write-values"] + ["s:" + s for s in written_strings] + \
       ["n:" + n for n in written_numbers]
written = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
# what collectd must read back from it
def hexs(s):
    return {"s": s.encode("utf-8").hex()}
def num(n):
    return {"n": "%.17g" % float.fromhex(n) if n.startswith("0x") else "%.17g" % float(n)}
written_want = [{"key": "Written",
                 "values": [hexs(s) for s in written_strings] + [num(n) for n in written_numbers],
                 "children": []}]

M, T = "module", "top"
rows = [
    # name, where the text goes, text, expectation: "tree" (both read the
    # same tree), "refused" (both refuse the file), or a known difference:
    # (collectd's tree, pop3_conffile's tree), each as its From values
    ("escapes", M, rb'''  K "ab\cd" "a\\b" "a\"b" "tab\there" "\\\\" "x\\" "y" ""
''', "tree"),
    ("quoted specials", M, b'  K "a#b" "<Plugin x>" "\xc3\xa9 \xc3\xbc" "\xff\x01" " blanks  "\n', "tree"),
    ("continued strings", M, b'  K "multi\\\n    line" "multi\\\nline\\\n\t  three"\n'
                             b'  P "p\\\n  q" r\n  Q "abc\\\n  "def"\n', "tree"),
    ("backslash CR LF in a string", M, b'  K "crlf\\\r\n  x"\n', "tree"),
    ("raw line break in a string", M, b'  K "line1\nline2"\n', "tree"),
    ("continued values", M, b'  K "a" \\\n   "b" \\\r\n 3\n', "tree"),
    ("comments", M, b'  # a whole line\n  K "a" # comment "b"\n  L 1 # trailing\n', "tree"),
    ("numbers", M, b"  K abc_123 0x1F 010 1e5 -1 +5 1.5 .5 1.5e+3 1.5e3 00 08 0x\n"
                   b"  L 12abc -abc 1.0e+999 -0 0.1 1e-3 -.5e-2 0XfF 007 +0.0\n", "tree"),
    ("booleans", M, b"  K true yes on false no off True onion ON Off\n", "tree"),
    ("unquoted words, dropped characters", M,
     b"  K mail.example.com 'single' @a %b under_score ;c\n", "tree"),
    ("IPv4 and IPv6", M,
     b"  K 127.0.0.1 127.0.0.1:8080 ::1 [::1]:80 fe80::1 dead:beef:: 2001:db8::1\n"
     b"  L ::ffff:192.0.2.1 1.2.3 1.2.3.4.5 256.1.1.1 12:30 [2001:db8::1]:995\n", "tree"),
    ("nested blocks, empty ones dropped", M, b'''  <Outer "x" 1 true>
    Key "v"
    <Inner>
      <Deep 3>
        Leaf 1
      </Deep>
    </Inner>
    <Empty>
    </Empty>
    <WithArg "a">
    </WithArg>
  </Outer>
  < Spaced  "tag" >  # comment
    K 1
  < / Spaced >
''', "tree"),
    ("CR LF line ends, blanks", M,
     b'  <Block "b">\r\n    K "a"\b"b"\r"c"\r\n  </Block>\r\n  L\t1\r\n', "tree"),
    ("Include inside a block is an option", M, b'  Include "/nonexistent/x.conf"\n', "tree"),
    ("Include a file", T, f'Include "{d}/inc/10-a.conf"\n'.encode(), "tree"),
    ("Include a directory with a Filter", T,
     f'<Include "{d}/inc">\n  Filter "*.conf"\n</Include>\n'.encode(), "tree"),
    ("Include a glob", T, f'Include "{d}/inc/*.conf"\n'.encode(), "tree"),
    ("Include nested", T, f'Include "{d}/nest/one.conf"\n'.encode(), "tree"),
    ("Include a CR LF file", T, f'Include "{d}/crlf"\n'.encode(), "tree"),
    ("Include leaves out a broken file", T, f'Include "{d}/broken-last"\n'.encode(), "tree"),
    # collectd's scanner keeps the unread rest of a file that fails to parse
    # and reads it ahead of the next file, which then fails too; the reader
    # leaves out only the broken file
    ("Include: a broken file, then a good one", T, f'Include "{d}/broken"\n'.encode(),
     (["good"], ["good", "also good"])),
    ("the writer's values", M, b"  Written " + written, "tree"),
    ("no final line break", T, module(b"  K 1\n")[:-1], "refused"),
    ("unclosed block", T, b"<Plugin python>\n<Module confdump>\n<A>\n  K 1\n</Module>\n</Plugin>\n", "refused"),
    ("end tag of another case", M, b"  <A>\n    K 1\n  </a>\n", "refused"),
    ("option without a value", M, b"  K\n", "refused"),
    ("quoted option name", M, b'  "K" 1\n', "refused"),
    ("Include not matching its Filter", T,
     f'<Include "{d}/inc/10-a.conf">\n  Filter "*.txt"\n</Include>\n'.encode(), "refused"),
]

def collectd_tree(conf, log):
    out = f"{d}/collectd.json"
    if os.path.exists(out):
        os.remove(out)
    env = dict(os.environ, CONFDUMP_OUT=out)
    with open(log, "wb") as f:
        rc = subprocess.run(["timeout", "60", "collectd", "-T", "-C", conf],
                            stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    text = open(log, errors="replace").read()
    if rc != 0:
        lines = [l for l in text.splitlines() if "rror" in l] or text.splitlines() or [""]
        return None, f"exit {rc}: {lines[0].strip()}"
    blocks = [json.loads(l) for l in open(out)] if os.path.exists(out) else []
    return [item for block in blocks for item in block], ""

def reader_tree(conf, log):
    with open(log, "wb") as f:
        p = subprocess.run([dump, "--dump", conf], stdout=subprocess.PIPE, stderr=f)
    if p.returncode != 0:
        return None, open(log, errors="replace").read().strip()
    items = []
    for top in json.loads(p.stdout):
        if top["key"].lower() != "plugin" or top["values"] != [{"s": b"python".hex()}]:
            continue
        for m in top["children"]:
            if m["key"].lower() == "module" and m["values"] == [{"s": b"confdump".hex()}]:
                items.extend(m["children"])
    return items, ""

def show(v):
    if "s" in v:
        return repr(bytes.fromhex(v["s"]))[1:]
    if "n" in v:
        return v["n"]
    return "true" if v["b"] else "false"

def compare(a, b, path=""):
    """(values compared, the first difference or None)"""
    count = 0
    for i in range(max(len(a), len(b))):
        if i >= len(a) or i >= len(b):
            extra = (b if i >= len(a) else a)[i]["key"]
            who = "pop3_conffile" if i >= len(a) else "collectd"
            return count, f"{path}item {i + 1} ({extra}) only in {who}'s tree"
        x, y = a[i], b[i]
        where = f"{path}{x['key']}"
        if x["key"] != y["key"]:
            return count, f"{path}item {i + 1}: collectd {x['key']}, pop3_conffile {y['key']}"
        if len(x["values"]) != len(y["values"]):
            return count, (f"{where}: collectd {len(x['values'])} values "
                           f"({' '.join(map(show, x['values']))}), pop3_conffile "
                           f"{len(y['values'])} ({' '.join(map(show, y['values']))})")
        for k, (u, v) in enumerate(zip(x["values"], y["values"])):
            count += 1
            if u != v:
                return count, f"{where} value {k + 1}: collectd {show(u)}, pop3_conffile {show(v)}"
        n, diff = compare(x["children"], y["children"], where + "/")
        count += n
        if diff:
            return count, diff
    return count, None

version = subprocess.run(["collectd", "-h"], stdout=subprocess.PIPE,
                         text=True).stdout.splitlines()
version = next((l.strip() for l in version if l.strip().startswith("collectd 5")), "collectd")
print(f"conffile-vs-collectd: {version} (collectd -T, python plugin) against "
      f"pop3_conffile (test_config --dump), value by value")
failed = values = known = 0
for n, (name, where, text, expect) in enumerate(rows, 1):
    conf = put(f"row{n:02d}.conf", PREAMBLE + (module(text) if where == M else text))
    theirs, their_error = collectd_tree(conf, f"{d}/row{n:02d}.collectd.log")
    ours, our_error = reader_tree(conf, f"{d}/row{n:02d}.reader.log")
    problem = None
    if isinstance(expect, tuple):
        got = tuple(None if t is None else
                    [bytes.fromhex(i["values"][0]["s"]).decode() for i in t]
                    for t in (theirs, ours))
        known += 1
        if got != expect:
            failed += 1
            print(f"FAIL {n:2d} {name}: the known difference changed: collectd "
                  f"{got[0] or their_error}, pop3_conffile {got[1] or our_error}")
        else:
            print(f"ok   {n:2d} {name}: known difference: collectd reads "
                  f"{got[0]}, pop3_conffile {got[1]}")
        continue
    if theirs is None and ours is None:
        detail = f"both refuse: collectd {their_error}; pop3_conffile {our_error}"
        if expect != "refused":
            problem = "both refuse a row meant to be read: " + detail
    elif theirs is None or ours is None:
        problem = (f"collectd {'refuses: ' + their_error if theirs is None else 'reads it'}, "
                   f"pop3_conffile {'refuses: ' + our_error if ours is None else 'reads it'}")
    else:
        count, diff = compare(theirs, ours)
        values += count
        detail = f"{count} value{'' if count == 1 else 's'} identical"
        if diff:
            problem = diff
        elif expect != "tree":
            problem = "both read a row meant to be refused"
        elif name == "the writer's values":
            # collectd reads back exactly what was written
            count, diff = compare(written_want, theirs)
            if diff:
                problem = "the writer: " + diff.replace("collectd", "given").replace("pop3_conffile", "collectd read")
            else:
                detail += ", each the value given to the writer"
    if problem:
        problem = problem.replace(d + "/", "")
    else:
        detail = detail.replace(d + "/", "")
    if problem:
        failed += 1
        print(f"FAIL {n:2d} {name}: {problem}")
    else:
        print(f"ok   {n:2d} {name}: {detail}")
print(f"# conffile-vs-collectd: {len(rows)} rows: {len(rows) - failed - known} "
      f"agree ({values} values compared), {known} known difference, {failed} failed")
sys.exit(1 if failed else 0)
PY
