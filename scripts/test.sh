#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (as root): install what is needed, check
# formatting and lints, then run every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# e2e tests start real daemons and containers (and a private dockerd for interop); two at a
# time fits 2 cores. (No doc tests: --all-targets.)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets -- --test-threads=2 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One closing line for the whole run: every harness's "N passed; M failed" summed.
awk '/test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$rc"
