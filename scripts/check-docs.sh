#!/usr/bin/env bash
# The docs against each other and against the code (issue 27): a page that
# says the embedded model is int8 when the f32 file is embedded, a speed ratio
# that BENCHMARKS.md does not have, a hand-edited BENCHMARKS.md. Reads files
# only (no build), a second or less; run early by scripts/test.sh.
#
#   scripts/check-docs.sh          # this checkout
#   scripts/check-docs.sh DIR      # another tree (a copy to try a wrong line on)
#
# What it checks:
# - the embedded model: the file `include_bytes!`-ed as DEFAULT_MODEL in
#   device/src/lib.rs, its kind (f32 or int8, from its model card's
#   `colorize.quantization`) and arch (`colorize.arch`); models/README.md's
#   file table marks that file and no other as embedded, "Which file is
#   embedded" starts with "The <kind> file.", the file table and README.md's
#   "The default model" name the arch, BENCHMARKS.md's "Embedded model" line
#   names the file and kind, and no current page says the other kind is
#   embedded (lines about the past, "was", "when", "previous", ..., and
#   models/README.md's "Previous default" part are history and skipped);
# - BENCHMARKS.md is all generated: nothing outside the sections
#   bench/sections.py knows, below its fixed header;
# - ratios: every "N.NNx" on a README.md or docs/*.md line about OpenCV,
#   onnxruntime, Python or BENCHMARKS.md is a ratio BENCHMARKS.md has;
# - citations of BENCHMARKS.md land: `BENCHMARKS.md#anchor` and
#   `BENCHMARKS.md, "Title"` on a heading, `BENCHMARKS.md, rows N` on rows of
#   its table;
# - names that no longer exist (Session::colorize_l, recombine::colorize,
#   colorize_rows) are not cited.
set -euo pipefail
root="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
# python3 only: the check must run before any build or venv exists.
exec python3 - "$root" <<'PY'
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])
errors = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def read(rel):
    p = root / rel
    return p.read_text() if p.exists() else None


# --- the embedded model, from the code and its card --------------------------
lib = read("device/src/lib.rs") or ""
m = re.search(r'DEFAULT_MODEL[^=]*=\s*include_bytes!\("\.\./\.\./(models/[^"]+)"\)', lib)
if not m:
    sys.exit("check-docs: no `DEFAULT_MODEL ... include_bytes!(\"../../models/...\")` in device/src/lib.rs")
embedded = m.group(1)
card_bytes = (root / embedded).read_bytes()


def card(key):
    """A model card entry (ONNX metadata_props: key field 1, value field 2,
    both short strings here)."""
    k = key.encode()
    m = re.search(re.escape(bytes([0x0A, len(k)]) + k) + rb"\x12(.)", card_bytes, re.S)
    if not m:
        return None
    n = m.group(1)[0]
    return card_bytes[m.end():m.end() + n].decode()


quant = card("colorize.quantization") or ""
arch = card("colorize.arch")
kind = "f32" if quant.startswith("none") else "int8"
other = "int8" if kind == "f32" else "f32"
if ("int8" in Path(embedded).name) != (kind == "int8"):
    fail(embedded, f"file name and card disagree (colorize.quantization = {quant!r})")

# --- models/README.md ---------------------------------------------------------
mr = read("models/README.md") or ""
rows = [l for l in mr.splitlines() if re.match(r"\|\s*`[^`]+\.onnx`\s*\|", l)]
seen = False
for l in rows:
    cells = [c.strip() for c in l.strip().strip("|").split("|")]
    name = cells[0].strip("`")
    says_yes = cells[-1].lower().startswith("yes")
    if name == Path(embedded).name:
        seen = True
        if not says_yes:
            fail("models/README.md", f"the file table does not mark {name} as embedded")
        if arch and f"`{arch}`" not in cells[1]:
            fail("models/README.md", f"the file table's row for {name} does not name the arch `{arch}`")
    elif says_yes:
        fail("models/README.md", f"the file table marks {name} as embedded; {embedded} is")
if not seen:
    fail("models/README.md", f"no row for {Path(embedded).name} in the file table")
m = re.search(r"^### Which file is embedded\s*\n\s*\n(.+)", mr, re.M)
if not m or not m.group(1).startswith(f"The {kind} file."):
    fail("models/README.md", f'"Which file is embedded" should start with "The {kind} file."')

readme = read("README.md") or ""
m = re.search(r"^## The default model\s*\n\s*\n(.+)", readme, re.M)
if arch and (not m or not m.group(1).startswith(f"`{arch}`")):
    fail("README.md", f'"The default model" should start with `{arch}` (the embedded card\'s arch)')

# --- pages: nobody says the other kind is embedded -----------------------------
pages = ["README.md", "BENCHMARKS.md", "models/README.md"] + sorted(
    str(p.relative_to(root)) for p in (root / "docs").glob("*.md"))
history = re.compile(r"\b(was|were|when|previous(ly)?|before|earlier|until|formerly|used to|then)\b", re.I)
wrong = [re.compile(p, re.I) for p in (
    rf"\bembedded (default )?{other}\b",
    rf"\bembeds? the {other}\b",
    rf"\b{other}\b[ ,]*\(?embedded\b",
    rf"\bembedded (default )?(model|file) is (the )?{other}\b",
    rf"\b{other} (file|model) is (the one )?embedded\b",
)]
texts = {}
for page in pages:
    text = read(page)
    if text is None:
        continue
    if page == "models/README.md" and "\n## Previous default" in text:
        text = text[:text.index("\n## Previous default")]  # the earlier model's history
    texts[page] = text
    for n, line in enumerate(text.splitlines(), 1):
        if history.search(line):
            continue
        for rx in wrong:
            if rx.search(line):
                fail(f"{page}:{n}", f"says the embedded model is {other}; it is the {kind} file "
                     f"{embedded}: {line.strip()[:120]}")
                break
        for stale in (r"Session::colorize_l\b", r"recombine::colorize\b", r"\bcolorize_rows\b"):
            if re.search(stale, line):
                fail(f"{page}:{n}", f"cites {stale.strip(chr(92) + 'b')}, which no longer exists")

# --- BENCHMARKS.md: generated, all of it ---------------------------------------
sys.path.insert(0, str(root / "bench"))
try:
    import sections  # bench/sections.py: the header and the section names
except ImportError:
    sections = None
bench = texts.get("BENCHMARKS.md")
if bench is None:
    fail("BENCHMARKS.md", "missing (scripts/bench.sh writes it)")
elif sections:
    rest = bench
    for name in sections.ORDER:
        rest = re.sub(rf"<!-- {name}:begin -->.*?<!-- {name}:end -->", "", rest, flags=re.S)
    if " ".join(rest.split()) != " ".join(sections.HEADER.split()):
        fail("BENCHMARKS.md", "has text outside the generated sections (hand-edited? rerun scripts/bench.sh)")
    m = re.search(r"^Embedded model\b.*?: `([^`]+)` \((\w+)", bench, re.M)
    if not m:
        fail("BENCHMARKS.md", 'no "Embedded model" line (scripts/bench.sh main writes it)')
    elif (m.group(1), m.group(2)) != (embedded, kind):
        fail("BENCHMARKS.md", f"measured {m.group(1)} ({m.group(2)}); {embedded} ({kind}) is embedded now: "
             "rerun scripts/bench.sh")

# --- ratios quoted elsewhere are BENCHMARKS.md's ---------------------------------
if bench:
    have = set(re.findall(r"(?<![\d.])(\d+\.\d+)x\b", bench))
    about = re.compile(r"OpenCV|onnxruntime|Python|BENCHMARKS", re.I)
    for page, text in texts.items():
        if page in ("BENCHMARKS.md", "models/README.md"):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if not about.search(line):
                continue
            for r in re.findall(r"(?<![\d.])(\d+\.\d+)x\b", line):
                if r not in have:
                    fail(f"{page}:{n}", f"quotes {r}x, which BENCHMARKS.md does not have: cite its row instead")

# --- links into BENCHMARKS.md ---------------------------------------------------
def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


if bench:
    headings = re.findall(r"^#+ (.+)$", bench, re.M)
    anchors = {slug(h) for h in headings}
    cite = r"BENCHMARKS\.md(?:\]\([^)]*\))?,?\s+"
    for page, text in texts.items():
        if page == "BENCHMARKS.md":
            continue
        at = lambda pos: f"{page}:{text.count(chr(10), 0, pos) + 1}"  # noqa: E731
        for m in re.finditer(r"BENCHMARKS\.md#([\w\-]+)", text):
            if m.group(1) not in anchors:
                fail(at(m.start()), f"links BENCHMARKS.md#{m.group(1)}, which is no heading there")
        # `BENCHMARKS.md, "Six photos"`: a heading of it; `BENCHMARKS.md, rows 2`: its table's rows.
        for m in re.finditer(cite + r'"([^"]+)"', text):
            if not any(m.group(1) in h for h in headings):
                fail(at(m.start()), f'cites BENCHMARKS.md, "{m.group(1)}", which is no heading there')
        for m in re.finditer(cite + r"rows? (\d+)", text):
            if not re.search(rf"^\| {m.group(1)} \|", bench, re.M):
                fail(at(m.start()), f"cites BENCHMARKS.md rows {m.group(1)}, which its table does not have")

if errors:
    print("check-docs: the docs contradict each other or the code:", file=sys.stderr)
    for e in errors:
        print(f"  {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-docs: ok (embedded: {embedded}, {kind}, arch {arch}; {len(texts)} pages)")
PY
