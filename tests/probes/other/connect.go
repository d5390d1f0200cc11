// connect.go: a Go program for tests/tests/unenterable.rs, built static (CGO_ENABLED=0) and
// dynamic (with cgo.go). Go makes its own system calls and has its own resolver: the library
// cannot follow it, so under torify it must never start.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// connect HOST PORT [MSG]: dials HOST:PORT (a name through Go's own resolver), sends MSG and
// prints the echo, then looks up web.test.
func main() {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(os.Args[1], os.Args[2]), 5*time.Second)
	fmt.Println("connect", err == nil)
	if c != nil {
		if len(os.Args) > 3 {
			msg := []byte(os.Args[3])
			c.Write(msg)
			buf := make([]byte, len(msg))
			n, _ := io.ReadFull(c, buf)
			fmt.Println("reply=" + string(buf[:n]))
		}
		c.Close()
	}
	_, err = net.LookupHost("web.test")
	fmt.Println("lookup", err == nil)
}
