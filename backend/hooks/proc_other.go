//go:build !unix

package hooks

import "os/exec"

// ownGroup: without process groups a cancelled hook's shell is killed
// (exec's default); its children may outlive it.
func ownGroup(*exec.Cmd) {}
