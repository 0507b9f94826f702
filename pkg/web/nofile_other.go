//go:build !unix

package web

// autoMaxSockets is limits.max_sockets' default where the open-file limit cannot be read: off.
func autoMaxSockets() int { return -1 }
