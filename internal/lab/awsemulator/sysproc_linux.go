package awsemulator

import "syscall"

// sysProcAttr puts moto_server in its own process group (Stop kills the
// group) and has the kernel kill it if its parent dies without Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
