// Interop peer built on lime-go (github.com/takenet/lime-go, version pinned in go.mod).
//
//	lime-go-peer client --uri URI --cell ID --instance INST --partner NODE [--tls] [--user U --password P]
//	    runs the client scenario against a server (ours) and prints {"ready": NODE} once the main
//	    session is established, then one result line {"cell": ..., "steps": {...}, "observed": {...}}.
//	lime-go-peer server --tcp ADDR [--cert PEM --key PEM] --users FILE
//	    runs a lime-go server (negotiation, TLS upgrade, guest and plain authentication) with a small
//	    router on top, for our Rust client; prints "listening on net.tcp://ADDR" lines.
//
// Every envelope sent or received over TCP is traced to standard error as "> JSON" / "< JSON".
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lime-go-peer client|server [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "client":
		os.Exit(runClient(os.Args[2:]))
	case "server":
		os.Exit(runServer(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q (client or server)\n", os.Args[1])
		os.Exit(2)
	}
}
