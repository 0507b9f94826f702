//go:build unix

package web

import "syscall"

// autoMaxSockets is limits.max_sockets' default: 90% of the open-file limit, and at least
// minSpareFiles fewer, so that when sockets reach it the process still has files for Redis
// connections, the health routes' connections and its own. Go raises the soft limit to the
// hard one at start. -1 (off) when the limit is unknown or unlimited.
func autoMaxSockets() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 || lim.Cur > 1<<30 {
		return -1
	}
	return max(1, min(int(lim.Cur*9/10), int(lim.Cur)-minSpareFiles))
}

// minSpareFiles is how many files the socket cap leaves at least.
const minSpareFiles = 64
