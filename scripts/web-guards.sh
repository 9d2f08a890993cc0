#!/usr/bin/env bash
# Shows that each of the web page's guards has a test that fails without it
# (issue 29): takes the guards out one at a time, in a scratch worktree of
# HEAD, and runs the test that should catch it. Prints one line per guard,
# "caught" or "MISSED"; exits 1 if any was missed. A check of the tests, not
# a test: minutes (one rebuild of colorize-device per guard).
#
#   scripts/web-guards.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
# The shared target folder (as scripts/test.sh): only colorize-device rebuilds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$COLORIZE_CACHE/target}"
work="$(mktemp -d)/guards"
git worktree add -q --detach "$work" HEAD
trap 'git worktree remove --force "$work"' EXIT
cd "$work"

R=device/src/boxd/web/routes.rs
H=device/src/boxd/web/http.rs
C=device/src/boxd/config.rs
M=device/src/boxd/monitor.rs
missed=0
# guard name | file | text with the guard | text without it | test that must fail
guard() {
    local name=$1 file=$2 with=$3 without=$4 test=$5
    cp "$file" "$file.orig"
    if ! python3 - "$file" "$with" "$without" <<'PY'
import sys
path, with_, without = sys.argv[1:4]
s = open(path).read()
if with_ not in s:
    sys.exit(f"{path}: guard text not found (the code moved? update this script): {with_!r}")
open(path, "w").write(s.replace(with_, without, 1))
PY
    then
        printf 'MISSED  %-22s (not found)\n' "$name"
        missed=1
        mv "$file.orig" "$file"
        return
    fi
    if cargo test -q -p colorize-device --features web --test box_web "$test" >/dev/null 2>&1; then
        printf 'MISSED  %-22s (%s still passes without it)\n' "$name" "$test"
        missed=1
    else
        printf 'caught  %-22s by %s\n' "$name" "$test"
    fi
    mv "$file.orig" "$file"
}

guard "plain file names" $M "pub fn plain_name(name: &str) -> bool {
    !name.is_empty()" "pub fn plain_name(name: &str) -> bool {
    true || !name.is_empty()" path_traversal
guard "no symlinks" $R "libc::O_NOFOLLOW | libc::O_NONBLOCK" "libc::O_NONBLOCK" path_traversal
guard "token check" $R "    let Some(token) = &site.token else {" \
    "    if true { return true; }
    let Some(token) = &site.token else {" missing_or_wrong_token
guard "LAN bind needs token" $C "Ok(a) if !a.ip().is_loopback() && self.token.is_none()" \
    "Ok(a) if false && !a.ip().is_loopback()" lan_bind
guard "head size" $H "        if len == buf.len() {
            return Err(ReadError::HeadTooLarge);
        }" "        if len == buf.len() { buf.resize(len * 2, 0); }" oversized
guard "header count" $H "pub const MAX_HEADERS: usize = 32;" "pub const MAX_HEADERS: usize = 64;" oversized
guard "body size" $H "    if body_len > limits.max_body {" "    if false && body_len > limits.max_body {" oversized
guard "read timeout" $H "        .set_read_timeout(Some(left))" "        .set_read_timeout(None)" slowloris
guard "request deadline" $H "    let left = deadline.saturating_duration_since(Instant::now());" \
    "    let left = Duration::from_secs(3600) + deadline.saturating_duration_since(Instant::now());" slowloris
guard "loopback names only" $R "    if site.token.is_none() && !loopback_host(req.header(\"host\")) {" \
    "    if false && site.token.is_none() && !loopback_host(req.header(\"host\")) {" only_loopback_names
guard "cross-site forms" $R "    if post && !same_origin(req) {" "    if false && post && !same_origin(req) {" vividness
exit $missed
