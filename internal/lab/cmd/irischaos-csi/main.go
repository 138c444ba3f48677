// Command irischaos-csi is the local cluster's Ceph RBD CSI driver.
//
//	irischaos-csi controller --kubeconfig K --ceph-conf C [--pool rbd]
//	irischaos-csi node --node-name N --kubelet-dir D --state-dir S --ceph-conf C [--pool rbd]
//
// The controller runs next to the control plane (provisioner and attacher
// loops included); one node plugin runs inside each node's network namespace
// and cgroup subtree and registers with that node's kubelet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/irischaos/irischaos/internal/lab/csi"
)

var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "irischaos-csi:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || (args[0] != "controller" && args[0] != "node") {
		return errors.New("usage: irischaos-csi controller|node [flags] (see -h of each)")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	conf := fs.String("ceph-conf", "", "ceph.conf of the cluster (its [client] section must set rbd_cache = false)")
	pool := fs.String("pool", "rbd", "RBD pool")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (controller)")
	nodeName := fs.String("node-name", "", "this node's name, its CSI node ID (node)")
	kubeletDir := fs.String("kubelet-dir", "", "the kubelet's root directory (node)")
	stateDir := fs.String("state-dir", "", "directory for FUSE mount points and rbd-fuse PIDs (node)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *conf == "" {
		return errors.New("--ceph-conf is required")
	}
	b, err := os.ReadFile(*conf)
	if err != nil {
		return err
	}
	if err := csi.CheckClientConf(string(b)); err != nil {
		return fmt.Errorf("%s: %w", *conf, err)
	}
	ceph := csi.Ceph{Conf: *conf, Pool: *pool}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	switch args[0] {
	case "controller":
		if *kubeconfig == "" {
			return errors.New("controller: --kubeconfig is required")
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		logger.Printf("%s controller %s for pool %s (%s)", csi.DriverName, version, *pool, *conf)
		return csi.RunController(ctx, cs, &csi.Controller{Ceph: ceph, NodeIP: csi.NodeIPFromAPI(cs)}, logger)
	default:
		if *nodeName == "" || *kubeletDir == "" || *stateDir == "" {
			return errors.New("node: --node-name, --kubelet-dir and --state-dir are required")
		}
		logger.Printf("%s node plugin %s on %s", csi.DriverName, version, *nodeName)
		return csi.ServeNode(ctx, *kubeletDir, csi.NewNode(ceph, *nodeName, *stateDir), &csi.Identity{Version: version},
			func(ok bool, msg string) { logger.Printf("kubelet registration: registered=%v %s", ok, msg) })
	}
}
