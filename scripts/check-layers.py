#!/usr/bin/env python3
"""The house rules a reader can check in a second (issue 27):

- no import cycle between the top-level modules of a crate (an edge A -> B
  is any `crate::B` in the code of A's files, tests and comments aside;
  `use` lists like `crate::{a, b}` count);
- no module outside `cli/` imports `cli` (device, train-host);
- no source file over 600 lines in device/src, io/src or train-host/src,
  counting the lines before its last top-level `#[cfg(test)]` block;
- colorize-train's normal dependency tree has no tract, v4l or
  embedded-hal (it needs `cargo`; skipped with --no-cargo).

Exit status 1 with one line per breach.
usage: scripts/check-layers.py [--no-cargo]
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = {"shared": "shared/src", "model": "model/src", "io": "io/src",
          "device": "device/src", "train-host": "train-host/src"}
LIMITED = ["device/src", "io/src", "train-host/src"]
MAX_LINES = 600

breaches = []


def rust_files(src):
    for dirpath, _, names in os.walk(src):
        for n in sorted(names):
            if n.endswith(".rs"):
                yield os.path.join(dirpath, n)


def top_module(src, path):
    rel = os.path.relpath(path, src)
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head


def referenced(text):
    """Top-level modules named after `crate::` in `text`."""
    names = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
    for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
        names.update(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
    return names


def find_cycle(graph):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


for crate, src in CRATES.items():
    src = os.path.join(ROOT, src)
    graph = {}
    for path in rust_files(src):
        mod = top_module(src, path)
        if mod in ("lib", "main"):
            continue
        with open(path) as f:
            # Code only: doc links name modules without importing them, and
            # a test module may reach across layers.
            text = f.read().split("\n#[cfg(test)]")[0]
            text = "\n".join(re.sub(r"(^|\s)//.*$", "", l) for l in text.splitlines())
        refs = referenced(text) - {mod}
        graph.setdefault(mod, set()).update(
            r for r in refs if os.path.exists(os.path.join(src, r + ".rs"))
            or os.path.isdir(os.path.join(src, r)))
        if mod != "cli" and "cli" in refs:
            breaches.append(f"{os.path.relpath(path, ROOT)}: imports cli from outside cli/")
    cycle = find_cycle(graph)
    if cycle:
        breaches.append(f"{crate}: import cycle {' -> '.join(cycle)}")

for src in LIMITED:
    for path in rust_files(os.path.join(ROOT, src)):
        with open(path) as f:
            lines = f.read().splitlines()
        # Up to the last top-level test block (a file's tests come last).
        tests = [i for i, l in enumerate(lines) if l.startswith("#[cfg(test)]")]
        n = tests[-1] if tests else len(lines)
        if n > MAX_LINES:
            breaches.append(f"{os.path.relpath(path, ROOT)}: {n} lines (limit {MAX_LINES}, tests aside)")

if "--no-cargo" not in sys.argv:
    tree = subprocess.run(["cargo", "tree", "-p", "colorize-train", "-e", "normal", "--prefix", "none"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for banned in ("tract-", "v4l", "embedded-hal"):
        hits = sorted({l.split()[0] for l in tree.splitlines() if l.startswith(banned)})
        if hits:
            breaches.append(f"colorize-train depends on {', '.join(hits)}")

for b in breaches:
    print(f"check-layers: {b}")
if not breaches:
    print("check-layers: no cycles, cli imported only by cli, files within "
          f"{MAX_LINES} lines, colorize-train free of tract/v4l/embedded-hal")
sys.exit(1 if breaches else 0)
