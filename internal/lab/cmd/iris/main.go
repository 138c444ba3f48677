// Command iris is the irischaos IRIS stand-in's control command, with the
// surface of InterSystems IRIS's `iris`: session (terminal), qlist, start,
// stop, force. It also runs the instance daemon itself (hidden form
// `iris __instance NAME`, started by iris-main and by `iris start`).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin"
	"github.com/irischaos/irischaos/internal/lab/standin/instance"
)

const usage = `usage (` + standin.Product + ` ` + standin.Version + `):
  iris qlist [INSTANCE]                          ^-separated status line(s)
  iris list [INSTANCE]                           human-readable status
  iris session INSTANCE [-U NAMESPACE] [COMMAND] ObjectScript from stdin, or COMMAND
  iris terminal INSTANCE ...                     same as session
  iris start INSTANCE                            start the instance
  iris stop INSTANCE [quietly] [restart]         graceful shutdown (journal flushed)
  iris force INSTANCE [quietly]                  immediate kill, journal buffer lost
The run directory is $IRISCHAOS_RUN_DIR (default ` + instance.DefaultRunDir + `).
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := strings.ToLower(args[0])
	args = args[1:]
	runDir := instance.RunDir()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "iris %s: %v\n", cmd, err)
		return 1
	}
	needName := func() (instance.Instance, bool) {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "iris %s: instance name missing\n%s", cmd, usage)
			return instance.Instance{}, false
		}
		return instance.New(runDir, args[0]), true
	}
	switch cmd {
	case instance.DaemonArg:
		inst, ok := needName()
		if !ok {
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := instance.Serve(ctx, inst, stderr); err != nil {
			return fail(err)
		}
		return 0
	case "qlist", "list":
		names := args
		if len(names) == 0 {
			names = instance.Names(runDir)
		}
		code := 0
		for _, n := range names {
			inst := instance.New(runDir, n)
			line, err := inst.Qlist()
			if err != nil {
				fmt.Fprintf(stderr, "iris %s: %v\n", cmd, err)
				code = 1
				continue
			}
			if cmd == "qlist" {
				fmt.Fprintln(stdout, line)
				continue
			}
			f := strings.Split(line, "^")
			fmt.Fprintf(stdout, "Configuration '%s'   (default)\n\tdirectory:    %s\n\tversionid:    %s\n\tdatadir:      %s\n\tconf file:    %s\n\tstatus:       %s\n\tproduct:      %s\n",
				f[0], f[1], f[2], f[12], f[4], f[3], f[9])
		}
		return code
	case "session", "terminal":
		inst, ok := needName()
		if !ok {
			return 2
		}
		ns, command, hasCmd, err := sessionArgs(args[1:])
		if err != nil {
			fmt.Fprintf(stderr, "iris %s: %v\n%s", cmd, err, usage)
			return 2
		}
		code, err := inst.Session(ns, command, hasCmd, stdin, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "iris %s: %v\n", cmd, err)
		}
		return code
	case "start":
		inst, ok := needName()
		if !ok {
			return 2
		}
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		if err := inst.Start(context.Background(), exe, stdout); err != nil {
			return fail(err)
		}
		return 0
	case "stop":
		inst, ok := needName()
		if !ok {
			return 2
		}
		restart := false
		for _, a := range args[1:] {
			switch strings.ToLower(a) {
			case "quietly", "nofailover", "bypass":
			case "restart":
				restart = true
			default:
				fmt.Fprintf(stderr, "iris stop: unknown option %q\n", a)
				return 2
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := inst.Stop(ctx); err != nil {
			return fail(err)
		}
		if restart {
			exe, err := os.Executable()
			if err != nil {
				return fail(err)
			}
			if err := inst.Start(ctx, exe, stdout); err != nil {
				return fail(err)
			}
		}
		return 0
	case "force":
		inst, ok := needName()
		if !ok {
			return 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := inst.Force(ctx); err != nil {
			return fail(err)
		}
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "iris: unknown command %q\n%s", cmd, usage)
	return 2
}

// sessionArgs parses [-U NAMESPACE | -UNAMESPACE] [COMMAND].
func sessionArgs(args []string) (ns, command string, hasCmd bool, err error) {
	ns = "USER"
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "-U":
			if len(args) < 2 {
				return "", "", false, fmt.Errorf("-U needs a namespace")
			}
			ns, args = args[1], args[2:]
		case strings.HasPrefix(a, "-U"):
			ns, args = a[2:], args[1:]
		case strings.HasPrefix(a, "-") && a != "-":
			return "", "", false, fmt.Errorf("unknown option %q", a)
		default:
			if hasCmd {
				return "", "", false, fmt.Errorf("more than one command given: %q", a)
			}
			command, hasCmd, args = a, true, args[1:]
		}
	}
	return strings.ToUpper(ns), command, hasCmd, nil
}
