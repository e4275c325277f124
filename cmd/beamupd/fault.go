//go:build !faultinject

package main

import "github.com/beamup/beamup/daemon"

// injectFault does nothing in a release build; see fault_inject.go.
func injectFault(*daemon.Config) {}
