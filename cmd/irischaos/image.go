package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/internal/lab/image"
)

// imageCmd is `irischaos image`.
func imageCmd(a *app) *cobra.Command {
	group := &cobra.Command{
		Use:   "image",
		Short: "Build the container images the local cluster runs (no Docker needed)",
		Example: `  irischaos image build --out build/images
  irischaos image ref iris-standin`,
	}
	var o image.Options
	build := &cobra.Command{
		Use:   "build",
		Short: "Write the pause and IRIS stand-in images as docker-archive tarballs",
		Long: `Writes pause.tar (` + image.PauseRef + `) and iris-standin.tar
(` + image.StandinRef + `) into --out. Import them into a node's containerd
with: ctr -n k8s.io images import FILE

The stand-in image needs the static binaries iris, iris-main and pause (make
build puts them next to irischaos) and Debian's busybox-static for /bin/sh.`,
		Example: `  irischaos image build --out build/images
  irischaos image build --out build/images --bin-dir bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.OutOrStdout()
			_, err := image.BuildAll(a.ctx, o)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			return nil
		},
	}
	build.Flags().StringVar(&o.OutDir, "out", "build/images", "directory for the image tarballs")
	build.Flags().StringVar(&o.BinDir, "bin-dir", "", "directory of the iris, iris-main and pause binaries (default: next to this executable)")
	refs := &cobra.Command{
		Use:     "ref [pause|iris-standin]",
		Short:   "Print the reference of an image the local cluster imports",
		Example: "  irischaos stack deploy --image $(irischaos image ref iris-standin) --storage-class replicated",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "pause":
				fmt.Fprintln(cmd.OutOrStdout(), image.PauseRef)
			case "iris-standin":
				fmt.Fprintln(cmd.OutOrStdout(), image.StandinRef)
			default:
				return withCode(exitUnknown, fmt.Errorf("unknown image %q: want pause or iris-standin", args[0]))
			}
			return nil
		},
	}
	group.AddCommand(build, refs)
	return group
}
