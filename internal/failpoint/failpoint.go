//go:build !faultinject

// Package failpoint kills the process at named points, in test builds only
// (-tags faultinject), the way etcd's gofail does: the tests of crash
// safety then crash for real at each step, between two writes that no
// signal sent from outside could hit reliably.
package failpoint

// Hit does nothing in a release build, and costs nothing: it is inlined
// away.
func Hit(name string) {}
