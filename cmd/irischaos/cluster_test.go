package main

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/irischaos/irischaos/internal/lab/localcluster"
)

// TestSuperviseCommandCarriesUpFlags checks that the supervisor `cluster up`
// starts is given every up flag as parsed, defaults included, and that the
// supervise command parses them back to the same options.
func TestSuperviseCommandCarriesUpFlags(t *testing.T) {
	tests := [][]string{
		nil,
		{"--nodes", "4", "--cloud", localcluster.CloudAWSEmulator},
		{"--tools-dir", "/src/irischaos tools", "--timings", "upstream", "--ceph"},
	}
	for _, args := range tests {
		var up localcluster.Options
		shared := pflag.NewFlagSet("up", pflag.ContinueOnError)
		upFlags(shared, &up)
		if err := shared.Parse(args); err != nil {
			t.Fatal(err)
		}
		argv := superviseCommand("/bin/irischaos", "lab", shared)
		want := []string{"/bin/irischaos", "cluster", superviseUse, "--name", "lab"}
		if !reflect.DeepEqual(argv[:len(want)], want) {
			t.Fatalf("superviseCommand(%v) = %v, want prefix %v", args, argv, want)
		}
		var sup localcluster.Options
		sfs := pflag.NewFlagSet("supervise", pflag.ContinueOnError)
		upFlags(sfs, &sup)
		sfs.String("name", "", "")
		if err := sfs.Parse(argv[3:]); err != nil {
			t.Fatalf("supervise cannot parse %v: %v", argv, err)
		}
		if !reflect.DeepEqual(sup, up) {
			t.Errorf("up %v: supervisor got %+v, up had %+v", args, sup, up)
		}
	}
}
