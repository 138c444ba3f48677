#!/usr/bin/env bash
# make run: the main job on the embedded local cluster. Brings a 3-node
# cluster up, deploys the IRIS stand-in on the `replicated` storage class,
# runs every scenario in scenarios/, writes reports/, and takes the cluster
# down on every exit path unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IRISCHAOS_BIN:-bin/irischaos}
NAME=${CLUSTER_NAME:-irischaos}
NS=${NAMESPACE:-irischaos}
SCENARIOS=${SCENARIOS:-scenarios/}

./hack/deps.sh

teardown() {
	local rc=$?
	if [ -n "${KEEP:-}" ]; then
		echo "==> KEEP=1: the cluster stays up. KUBECONFIG=$("$BIN" cluster kubeconfig --name "$NAME" 2>/dev/null); take it down with: $BIN cluster down --name $NAME"
	else
		echo "==> taking the local cluster down (KEEP=1 keeps it)"
		"$BIN" cluster down --name "$NAME" || true
	fi
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

if "$BIN" cluster status --name "$NAME" >/dev/null 2>&1; then
	echo "==> local cluster $NAME is already up; using it"
else
	echo "==> bringing up the local cluster $NAME (3 nodes)"
	"$BIN" cluster up --name "$NAME" --nodes 3
fi
KUBECONFIG=$("$BIN" cluster kubeconfig --name "$NAME")
export KUBECONFIG

echo "==> deploying the IRIS stand-in on the replicated storage class"
"$BIN" stack deploy -n "$NS" --create-namespace \
	--image "$("$BIN" image ref iris-standin)" --storage-class replicated

echo "==> running $SCENARIOS"
rc=0
"$BIN" run "$SCENARIOS" -n "$NS" --allow-vm-actions --reports reports || rc=$?
case $rc in
0) echo "==> every verdict passed; reports in reports/" ;;
1) echo "==> a verdict failed; see the newest directory in reports/" ;;
*) echo "==> the run could not decide (exit $rc); see above and reports/" ;;
esac
exit "$rc"
