#!/usr/bin/env bash
# Install what the embedded local cluster needs, idempotently and fast when
# everything is there: Debian packages (containerd, runc, CNI plugins, static
# busybox, iproute2, iptables, util-linux, Ceph; and what the report tests prove
# the reports with: xmllint, chromium, poppler-utils, prometheus and
# prometheus-pushgateway) and the cached Kubernetes and etcd binaries, built
# from the tools modules in tools/ by `irischaos cluster deps`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every apt-get waits up to 15 minutes for dpkg's lock (-o DPkg::Lock::Timeout=900):
# another apt (unattended upgrades, a parallel job) once broke CI by holding it.
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
	$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
		containerd runc containernetworking-plugins busybox-static iproute2 iptables util-linux libxml2-utils chromium poppler-utils prometheus prometheus-pushgateway
else
	echo "deps: host packages present (containerd $(containerd --version 2>/dev/null | awk '{print $3}'), runc, CNI plugins, busybox)"
fi

# The Kubernetes and etcd binaries: their versions and build recipe are
# written once, in internal/lab/localcluster/binaries; the CLI builds them
# (a line every 10 s while it does) or finds them cached, and says where.
IRISCHAOS="${IRISCHAOS:-bin/irischaos}"
[ -x "$IRISCHAOS" ] || { echo "deps: $IRISCHAOS not built: run \`make deps\` (it builds first)" >&2; exit 1; }
"$IRISCHAOS" cluster deps --tools-dir "$PWD/tools"

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
	$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
		ceph-mon ceph-mgr ceph-osd ceph-common rbd-fuse
fi
echo "deps: $(ceph --version 2>/dev/null | awk '{print "Ceph", $3, $5}')"
# ---- end Ceph ----
