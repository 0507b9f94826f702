//go:build !linux

package store_test

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent; elsewhere t.Cleanup stops it.
func dieWithParent(*exec.Cmd) {}
