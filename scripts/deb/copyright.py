#!/usr/bin/env python3
"""Writes the Debian copyright file of the colorize-box package.

Nothing in it is typed by hand: the project's own licence comes from the
workspace's Cargo.toml, the model weights' origin and licence from the model
card (models/README.md, "Where every weight came from"), and the crates
linked into the binary, with their licences and licence files, from
`cargo metadata`: every crate that colorize-device reaches through normal
(not build or dev) dependencies on TARGET with the features the shipping
build turns on.

usage: scripts/deb/copyright.py TARGET > copyright
"""
import hashlib
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FEATURES = "colorize-device/camera,colorize-device/web"
# Debian keeps the Apache License 2.0's text in common-licenses; the copyright
# file refers to it instead of carrying it (policy 12.5; lintian checks).
APACHE = ("Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS")
LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT)([-._].*)?$", re.I)


def metadata(target):
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked",
         "--filter-platform", target, "--features", FEATURES],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def shipped(meta):
    """The packages colorize-device links: its normal-dependency closure."""
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    pkgs = {p["id"]: p for p in meta["packages"]}
    root = next(i for i, p in pkgs.items() if p["name"] == "colorize-device")
    seen, todo = set(), [root]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        for d in nodes[i]["deps"]:
            if any(k["kind"] is None for k in d["dep_kinds"]):
                todo.append(d["pkg"])
    return [pkgs[i] for i in seen]


def card_section():
    card = open(os.path.join(ROOT, "models", "README.md"), encoding="utf-8").read()
    m = re.search(r"Where every weight came from:\n(.*?)\n## ", card, re.S)
    if not m:
        sys.exit("copyright.py: models/README.md has no 'Where every weight came from:' section")
    return m.group(1).strip()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    meta = metadata(sys.argv[1])
    pkgs = sorted(shipped(meta), key=lambda p: (p["name"], p["version"]))
    ours = [p for p in pkgs if p["source"] is None]
    theirs = [p for p in pkgs if p["source"] is not None]
    missing = [p["name"] for p in theirs if not p.get("license") and not p.get("license_file")]
    if missing:
        sys.exit(f"copyright.py: no licence declared by {', '.join(missing)}")
    licence = ours[0]["license"]
    w = sys.stdout.write
    w("This is colorize-box, the colorize scanner box: grayscale scans and camera\n"
      "frames coloured by a small neural network, on the device.\n\n")
    w(f"The colorize crates ({', '.join(p['name'] for p in ours)}): {licence},\n"
      "at your option. Apache-2.0's text: /usr/share/common-licenses/Apache-2.0.\n\n")
    w("== The model built into the binary ==\n\n")
    w("From the model card (models/README.md in the source), where every weight\ncame from:\n\n")
    w(card_section() + "\n\n")
    w(f"== Crates linked into /usr/bin/colorize ({len(theirs)}) ==\n\n"
      "From `cargo metadata` (scripts/deb/copyright.py): name, version, licence\n"
      "(SPDX), source. Each licence file the crates ship follows, once per\n"
      "distinct text, with the crates that carry it.\n\n")
    texts = {}
    for p in theirs:
        lic = p.get("license") or f"see {p['license_file']}"
        repo = p.get("repository") or p["source"]
        w(f"{p['name']} {p['version']}: {lic} ({repo})\n")
        d = os.path.dirname(p["manifest_path"])
        files = sorted(f for f in os.listdir(d) if LICENSE_FILE.match(f) and os.path.isfile(os.path.join(d, f)))
        for f in files:
            text = open(os.path.join(d, f), encoding="utf-8", errors="replace").read().strip()
            if all(a in text for a in APACHE):
                text = "The Apache License 2.0: /usr/share/common-licenses/Apache-2.0"
            key = hashlib.sha256(text.encode()).hexdigest()
            texts.setdefault(key, [text, []])[1].append(f"{p['name']} {p['version']} ({f})")
    w("\n== Licence texts ==\n")
    for text, who in texts.values():
        w("\n" + "-" * 72 + "\n")
        w("Carried by: " + ", ".join(who) + "\n\n")
        w(text + "\n")


if __name__ == "__main__":
    main()
