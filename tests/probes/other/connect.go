// connect.go: a Go program for tests/tests/unenterable.rs, built static (CGO_ENABLED=0) and
// dynamic (with cgo.go). Go makes its own system calls and has its own resolver: the library
// cannot follow it, so under torify it must never start.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	c, err := net.DialTimeout("tcp", os.Args[1]+":"+os.Args[2], 2*time.Second)
	fmt.Println("connect", err == nil)
	if c != nil {
		c.Close()
	}
	_, err = net.LookupHost("web.test")
	fmt.Println("lookup", err == nil)
}
