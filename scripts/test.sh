#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (as root): install what is needed, check
# formatting and lints, then run every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# e2e tests start real daemons (and a private dockerd for interop); 2 at a time fits 2 cores.
cargo test --workspace -- --test-threads=2
