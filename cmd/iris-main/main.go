// Command iris-main is part of the irischaos IRIS stand-in (see pkg/standin).
package main

import (
	"fmt"
	"os"
)

// Replaced within the hour by the real command; present so that make build works.
func main() {
	fmt.Fprintln(os.Stderr, "iris-main: the irischaos IRIS stand-in is under construction (issue 2)")
	os.Exit(2)
}
