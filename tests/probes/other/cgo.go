// cgo.go: with cgo enabled, this file links the program against libc, dynamically: a Go
// program with PT_INTERP, which the library still cannot follow.
package main

// #include <stdlib.h>
import "C"

var _ = C.free
