#!/usr/bin/env python3
"""Writes a power-test tally (scripts/power-test.sh --tally) into
docs/robustness.md, between the power-test tally markers."""
import json
import sys

tally_path, doc_path = sys.argv[1], sys.argv[2]
t = json.load(open(tally_path))
if not t.get("ok"):
    sys.exit("power-tally: the run failed; nothing written")
p = t["phases"]
lines = [
    "<!-- power-test tally: written by scripts/power-test.sh --tally; do not edit -->",
    "",
    "| cuts | disks | scans | lost | partial | duplicates | inputs changed | time |",
    "|---|---|---|---|---|---|---|---|",
    f"| {t['cuts']} | {t['rounds']} | {t['scans']} | {t['lost']} | {t['partial']} | {t['duplicates']} "
    f"| {t['changed']} | {t['seconds'] // 60} min {t['seconds'] % 60} s |",
    "",
    "Where the plug was pulled (the last step the box had printed):",
    "",
    "| reading the input | writing the temp file | fsynced, before the rename "
    "| renamed, before moving the input | input moved | before any step |",
    "|---|---|---|---|---|---|",
    f"| {p.get('read', 0)} | {p.get('write', 0)} | {p.get('synced', 0)} | {p.get('renamed', 0)} "
    f"| {p.get('moved', 0)} | {p.get('boot', 0)} |",
    "",
    f"Seed {t['seed']}: `scripts/power-test.sh --cuts {t['cuts']} --seed {t['seed']}` aims the same cuts again.",
    "",
    "<!-- end of power-test tally -->",
]
doc = open(doc_path).read()
start = doc.index("<!-- power-test tally")
end = doc.index("<!-- end of power-test tally -->") + len("<!-- end of power-test tally -->")
open(doc_path, "w").write(doc[:start] + "\n".join(lines) + doc[end:])
