//go:build !linux

package awsemulator

import "syscall"

// sysProcAttr puts moto_server in its own process group (Stop kills the group).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
