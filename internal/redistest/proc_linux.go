package redistest

import "syscall"

// sysProcAttr puts the server in a process group of its own (stop kills the group, so a child
// it forked for a rewrite goes too) and has the kernel kill it when the thread that started it
// ends: start keeps that thread, locked, until the server exits, so the signal comes only when
// the test binary dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
