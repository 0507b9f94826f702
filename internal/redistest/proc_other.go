//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr: a process group of its own. Only Linux can tie a child's life to its parent's;
// elsewhere a test binary that dies without stopping its servers leaves them running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
