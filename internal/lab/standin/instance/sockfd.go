package instance

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// blockingFile moves a session socket out of the runtime's poller onto a
// blocking descriptor, which it returns; c is closed. A blocked read then
// wakes straight from the kernel, without the poller's EAGAIN read, epoll
// round and goroutine switch: one read and one write syscall per line each
// way. (UnixConn.File is no substitute: its duplicate stays non-blocking,
// and the original stays registered, so every arriving line also wakes an
// idle thread in epoll.) shutdownFile unblocks a read or write on it.
func blockingFile(c *net.UnixConn) (*os.File, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	syscall.ForkLock.RLock()
	err = raw.Control(func(s uintptr) {
		if fd, derr = syscall.Dup(int(s)); derr == nil {
			syscall.CloseOnExec(fd)
		}
	})
	syscall.ForkLock.RUnlock()
	if err == nil {
		err = derr
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("duplicate the session socket: %w", err)
	}
	c.Close() // removes it from the poller; the duplicate keeps the socket
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("make the session socket blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), "session"), nil
}

// shutdownFile shuts down one or both directions of the socket f (how is
// syscall.SHUT_*). It goes through the file, so a descriptor already closed
// (and perhaps reused) is never touched.
func shutdownFile(f *os.File, how int) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(s uintptr) { syscall.Shutdown(int(s), how) })
	}
}
