// Command coredns is CoreDNS (github.com/coredns/coredns, the version go.mod names) with only the plugins the
// local node's Corefile uses (tools/node.py): bind, ready, errors, cache, kubernetes. Upstream's main imports
// every plugin (cloud providers' SDKs among them); this one builds in a fraction of the time. The order of
// Directives is upstream's plugin.cfg order, which is the order the plugins handle a query.
package main

import (
	_ "github.com/coredns/caddy/onevent" // as upstream's core/plugin
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{"bind", "ready", "errors", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
