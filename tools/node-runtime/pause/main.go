// Command pause is the sandbox ("pause") container of the local node's pods: it holds the pod's
// namespaces, reaps orphaned children and exits on SIGTERM or SIGINT. Built by tools/node_build.py,
// packed into localhost/devpi/pause by tools/images.py.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
