#!/usr/bin/env bash
# Install what the embedded local cluster needs, idempotently and fast when
# everything is there: Debian packages (containerd, runc, CNI plugins, static
# busybox, iproute2, iptables, util-linux; and what the report tests prove
# the reports with: xmllint, chromium, poppler-utils, prometheus and
# prometheus-pushgateway) and the cached Kubernetes v1.36.3
# and etcd v3.6.8 binaries, built from the tools modules in tools/.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/irischaos/bin"
K8S_DIR="$CACHE/k8s-$K8S_VERSION"
ETCD_BIN="$CACHE/etcd-$ETCD_VERSION/etcd"

need=()
for b in containerd containerd-shim-runc-v2 runc ctr nsenter ip iptables; do
	command -v "$b" >/dev/null 2>&1 || need+=("$b")
done
for p in bridge host-local loopback; do
	[ -x "/usr/lib/cni/$p" ] || need+=("cni-$p")
done
[ -x /bin/busybox ] || need+=(busybox)
# The reports' real consumers (pkg/report, pkg/metrics tests): JUnit schema,
# browser and PDF, Prometheus and Pushgateway.
for b in xmllint chromium pdftotext pdfinfo prometheus prometheus-pushgateway; do
	command -v "$b" >/dev/null 2>&1 || need+=("$b")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: missing ${need[*]}; installing Debian packages"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		containerd runc containernetworking-plugins busybox-static iproute2 iptables util-linux libxml2-utils chromium poppler-utils prometheus prometheus-pushgateway
else
	echo "deps: host packages present (containerd $(containerd --version 2>/dev/null | awk '{print $3}'), runc, CNI plugins, busybox)"
fi

# Keep these flags identical to internal/lab/localcluster/binaries (BuildArgsK8s /
# BuildArgsEtcd): the same flags share Go's build cache.
progress() { # what, pid: a line every 10 s so a long build never looks hung
	local what=$1 pid=$2 start=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		sleep 10
		kill -0 "$pid" 2>/dev/null && echo "deps: still building $what, $((SECONDS - start))s elapsed"
	done
}
build() { # what, dir, go build args...
	local what=$1 dir=$2; shift 2
	echo "deps: building $what in $dir (the first build takes about 10 minutes on 2 cores)"
	(cd "$dir" && CGO_ENABLED=0 go build "$@") &
	local pid=$!
	progress "$what" "$pid" &
	local ticker=$!
	local rc=0
	wait "$pid" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	[ "$rc" -eq 0 ] || { echo "deps: building $what failed (rc $rc)" >&2; exit "$rc"; }
}

missing_k8s=0
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
	[ -x "$K8S_DIR/$b" ] || missing_k8s=1
done
if [ "$missing_k8s" -eq 1 ]; then
	mkdir -p "$K8S_DIR"
	build "Kubernetes $K8S_VERSION" tools/k8s -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean" -o "$K8S_DIR/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet
fi
echo "deps: Kubernetes $("$K8S_DIR/kubelet" --version 2>/dev/null | awk '{print $2}') in $K8S_DIR"

if [ ! -x "$ETCD_BIN" ]; then
	mkdir -p "$(dirname "$ETCD_BIN")"
	build "etcd $ETCD_VERSION" tools/etcd -trimpath -ldflags "-s -w" -o "$ETCD_BIN" go.etcd.io/etcd/server/v3
fi
echo "deps: etcd $("$ETCD_BIN" --version 2>/dev/null | awk '/etcd Version/{print $3}') at $ETCD_BIN"

# ---- Ceph (real replicated block storage for the local cluster's volumes) ----
# Debian's Ceph, without recommends: monitor, manager, OSD, the CLI tools and
# rbd-fuse (the kernel here has no RBD: images reach a node as rbd-fuse files).
ceph_need=()
for b in ceph-mon ceph-mgr ceph-osd ceph rbd monmaptool rbd-fuse; do
	command -v "$b" >/dev/null 2>&1 || ceph_need+=("$b")
done
if [ ${#ceph_need[@]} -gt 0 ]; then
	echo "deps: missing ${ceph_need[*]}; installing Debian's Ceph"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		ceph-mon ceph-mgr ceph-osd ceph-common rbd-fuse
fi
echo "deps: $(ceph --version 2>/dev/null | awk '{print "Ceph", $3, $5}')"
# ---- end Ceph ----
