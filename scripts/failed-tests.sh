#!/usr/bin/env bash
# Prints "FAILED <test>: <first line of its message>" for every failed result in the given .trx files.
# ./farm test calls it before the count line, because CI shows only the tail of a run's output.
set -uo pipefail
[ "$#" -gt 0 ] || exit 0
if command -v python3 >/dev/null; then
  python3 - "$@" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"FAILED to read {path}: {e}")
        continue
    for r in root.iterfind(".//t:UnitTestResult", ns):
        if r.get("outcome") != "Failed":
            continue
        msg = r.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
        first = msg.splitlines()[0][:400] if msg else "(no message)"
        print(f"FAILED {r.get('testName')} after {r.get('duration')}: {first}")
PY
else
  for trx in "$@"; do
    grep -o '<UnitTestResult [^>]*outcome="Failed"[^>]*>' "$trx" | grep -o 'testName="[^"]*"' | sed 's/^testName=/FAILED /'
  done
fi
