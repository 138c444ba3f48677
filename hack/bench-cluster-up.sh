#!/usr/bin/env bash
# Time `irischaos cluster up` (3 nodes, cached binaries) to every node Ready.
# The budget is 60 s. Always takes the benchmark cluster down again.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IRISCHAOS:-bin/irischaos}
NAME=${NAME:-irischaos-bench}
NODES=${NODES:-3}
BUDGET=${BUDGET:-60}
[ -x "$BIN" ] || { echo "bench: $BIN missing: run make build" >&2; exit 2; }
trap '"$BIN" cluster down --name "$NAME" >/dev/null 2>&1 || true' EXIT
"$BIN" cluster down --name "$NAME" >/dev/null 2>&1 || true
# Binaries are built (or found) first so that the timing is of a cached start.
./hack/deps.sh >/dev/null
start=$(date +%s.%N)
"$BIN" cluster up --name "$NAME" --nodes "$NODES"
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
echo "bench: cluster up, $NODES nodes Ready in ${secs}s (budget ${BUDGET}s)"
awk -v s="$secs" -v b="$BUDGET" 'BEGIN{exit !(s<=b)}' || { echo "bench: over budget" >&2; exit 1; }
