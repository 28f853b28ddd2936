// Command kube-controlplane runs a minimal, real Kubernetes control plane in one
// process, for tests on machines without Docker:
//
//   - an embedded etcd (go.etcd.io/etcd/server/v3/embed) listening on loopback,
//   - kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app) in-process,
//   - the upstream namespace controller (so deleted namespaces really go away),
//     the serviceaccounts controller (a "default" ServiceAccount per namespace)
//     and the root-CA publisher (the kube-root-ca.crt ConfigMap per namespace).
//
// No scheduler, kubelet or other controllers run: Pods are stored but never run.
//
// Usage:
//
//	kube-controlplane --etcd-dir DIR --etcd-client-port N --etcd-peer-port M \
//	    --controller-kubeconfig FILE [--root-ca-file FILE] -- <kube-apiserver flags>
//
// Everything after "--" is handed to kube-apiserver unchanged; --etcd-servers is
// appended automatically. PKI and flags are prepared by tools/cluster.py.
//
// Only one component Command may exist per process: kube-apiserver's command
// installs the process signal handler (a second one panics), so the controllers
// share its context and stop when it receives SIGTERM/SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream's main
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream's main
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream's main
	"k8s.io/klog/v2"

	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/pkg/controller/certificates/rootcacertpublisher"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
	serviceaccountcontroller "k8s.io/kubernetes/pkg/controller/serviceaccount"
)

type options struct {
	etcdDir        string
	etcdClientPort int
	etcdPeerPort   int
	etcdNoFsync    bool
	kubeconfig     string
	rootCAFile     string
	noControllers  bool
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	fs := flag.NewFlagSet("kube-controlplane", flag.ContinueOnError)
	fs.StringVar(&o.etcdDir, "etcd-dir", "", "etcd data directory (required)")
	fs.IntVar(&o.etcdClientPort, "etcd-client-port", 2379, "etcd client port on 127.0.0.1")
	fs.IntVar(&o.etcdPeerPort, "etcd-peer-port", 2380, "etcd peer port on 127.0.0.1")
	fs.BoolVar(&o.etcdNoFsync, "etcd-unsafe-no-fsync", true, "skip fsync in etcd (test clusters only)")
	fs.StringVar(&o.kubeconfig, "controller-kubeconfig", "", "kubeconfig the in-process controllers use (required unless --no-controllers)")
	fs.StringVar(&o.rootCAFile, "root-ca-file", "", "CA bundle published as ConfigMap kube-root-ca.crt in every namespace (optional)")
	fs.BoolVar(&o.noControllers, "no-controllers", false, "run no controllers (namespaces then stay Terminating forever)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags] -- <kube-apiserver flags>\n", os.Args[0])
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if o.etcdDir == "" || (!o.noControllers && o.kubeconfig == "") {
		fs.Usage()
		return 2
	}
	apiArgs := fs.Args() // flag stops at "--" and drops it

	etcd, err := startEtcd(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-controlplane: etcd: %v\n", err)
		return 1
	}
	defer func() {
		etcd.Close()
		klog.Info("kube-controlplane: etcd stopped")
	}()

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(append(apiArgs, "--etcd-servers="+etcdClientURL(o).String()))
	// cmd.Context() is the signal context set up by NewAPIServerCommand: it is
	// cancelled on SIGTERM/SIGINT, so the controllers stop with the apiserver.
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	if !o.noControllers {
		go func() {
			if err := runControllers(ctx, o); err != nil && !errors.Is(err, context.Canceled) {
				klog.ErrorS(err, "kube-controlplane: controllers failed")
			}
		}()
	}
	go func() {
		select {
		case err := <-etcd.Err():
			klog.ErrorS(err, "kube-controlplane: etcd failed")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	return cli.Run(cmd)
}

func etcdClientURL(o options) *url.URL {
	return &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(o.etcdClientPort)}
}

func startEtcd(o options) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "controlplane"
	cfg.Dir = o.etcdDir
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = o.etcdNoFsync
	client := *etcdClientURL(o)
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(o.etcdPeerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// keep the data dir small over long test sessions
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		klog.InfoS("kube-controlplane: etcd ready", "url", client.String())
		return e, nil
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("etcd did not become ready within 60s")
	}
}

// runControllers waits until the apiserver answers /readyz, then runs the
// namespace, serviceaccounts and root-CA-publisher controllers until ctx ends.
// Wiring follows cmd/kube-controller-manager/app/core.go and certificates.go.
func runControllers(ctx context.Context, o options) error {
	config, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	config.QPS, config.Burst = 100, 200
	config.UserAgent = "kube-controlplane"
	client, err := clientset.NewForConfig(config)
	if err != nil {
		return err
	}

	// the apiserver is started by cli.Run right after this goroutine starts
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		return err
	}

	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	logger := klog.FromContext(ctx)

	// namespace controller: deletes everything in a Terminating namespace,
	// then removes the "kubernetes" finalizer.
	nsConfig := rest.CopyConfig(config)
	nsConfig.UserAgent = "kube-controlplane/namespace-controller"
	nsClient, err := clientset.NewForConfig(nsConfig)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(nsConfig)
	if err != nil {
		return err
	}
	nsController := namespacecontroller.NewNamespaceController(
		ctx, nsClient, metadataClient,
		nsClient.Discovery().ServerPreferredNamespacedResources,
		factory.Core().V1().Namespaces(),
		5*time.Minute, v1.FinalizerKubernetes,
	)

	// serviceaccounts controller: a "default" ServiceAccount in every namespace
	// (the ServiceAccount admission plugin then admits Pods).
	saController, err := serviceaccountcontroller.NewServiceAccountsController(
		logger,
		factory.Core().V1().ServiceAccounts(),
		factory.Core().V1().Namespaces(),
		client,
		serviceaccountcontroller.DefaultServiceAccountsControllerOptions(),
	)
	if err != nil {
		return fmt.Errorf("serviceaccounts controller: %w", err)
	}

	var publisher *rootcacertpublisher.Publisher
	if o.rootCAFile != "" {
		rootCA, err := os.ReadFile(o.rootCAFile)
		if err != nil {
			return err
		}
		publisher, err = rootcacertpublisher.NewPublisher(
			factory.Core().V1().ConfigMaps(), factory.Core().V1().Namespaces(), client, rootCA)
		if err != nil {
			return fmt.Errorf("root-ca-cert-publisher: %w", err)
		}
	}

	factory.Start(ctx.Done())
	go nsController.Run(ctx, 10)
	go saController.Run(ctx, 1)
	if publisher != nil {
		go publisher.Run(ctx, 1)
	}
	klog.InfoS("kube-controlplane: controllers started", "controllers", "namespace,serviceaccount,root-ca-cert-publisher")
	<-ctx.Done()
	factory.Shutdown()
	return ctx.Err()
}
