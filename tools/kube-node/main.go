// Command kube-node runs one of the node components of the local test cluster, from the same
// k8s.io/kubernetes module as tools/controlplane (one binary, one build, one cache entry):
//
//	kube-node kubelet                 <kubelet flags>
//	kube-node kube-controller-manager <flags>
//	kube-node kube-scheduler          <flags>
//	kube-node kube-proxy              <flags>
//	kube-node cri-clean --endpoint=unix:///path/containerd.sock
//
// The first argument names the component; the rest goes to it unchanged. Each component runs in a
// process of its own: a component Command installs the process signal handler, and a second one in
// the same process panics. Flags and PKI are prepared by tools/node.py.
//
// cri-clean stops and removes every pod sandbox through the CRI API, so that containerd runs the CNI
// DEL of each (veth, IP lease, CNI rules): tools/node.py runs it at `down`, after kubelet has stopped.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream's mains

	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var components = map[string]func() *cobra.Command{
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-controller-manager": func() *cobra.Command { return controllermanager.NewControllerManagerCommand() },
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              func() *cobra.Command { return proxy.NewProxyCommand() },
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "cri-clean" {
		os.Exit(criClean(os.Args[2:]))
	}
	names := make([]string, 0, len(components)+1)
	for name := range components {
		names = append(names, name)
	}
	names = append(names, "cri-clean")
	sort.Strings(names)
	if len(os.Args) < 2 || components[os.Args[1]] == nil {
		fmt.Fprintf(os.Stderr, "usage: %s {%s} [flags]\n", os.Args[0], strings.Join(names, "|"))
		os.Exit(2)
	}
	cmd := components[os.Args[1]]()
	cmd.SetArgs(os.Args[2:])
	os.Exit(cli.Run(cmd))
}

func criClean(args []string) int {
	fs := flag.NewFlagSet("cri-clean", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "CRI endpoint, unix:///path/to/containerd.sock")
	if err := fs.Parse(args); err != nil || *endpoint == "" {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-clean: %v\n", err)
		return 1
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-clean: list: %v\n", err)
		return 1
	}
	failed := 0
	for _, sb := range list.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-clean: stop %s: %v\n", sb.Id, err)
			failed++
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-clean: remove %s: %v\n", sb.Id, err)
			failed++
		}
	}
	fmt.Printf("cri-clean: %d sandboxes, %d failed\n", len(list.Items), failed)
	if failed > 0 {
		return 1
	}
	return 0
}
