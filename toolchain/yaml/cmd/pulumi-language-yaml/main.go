// Command pulumi-language-yaml is the YAML language host the toolchain builds: pulumi-yaml's
// language host (its server package) served as its own command does, plus the one RPC that
// version lacks and `pulumi package add` calls, Link.
//
// A YAML program needs nothing linked: it names a package's resource tokens and the engine loads
// the package's schema from its plugin. So Link changes no file and only says how to use the
// package; the CLI then records the package in Pulumi.yaml.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pulumi/pulumi-yaml/pkg/server"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// linkingHost is pulumi-yaml's host with Link answered.
type linkingHost struct {
	pulumirpc.LanguageRuntimeServer
}

func (linkingHost) Link(_ context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	names := make([]string, 0, len(req.GetPackages()))
	for _, p := range req.GetPackages() {
		names = append(names, p.GetPackage().GetName())
	}
	return &pulumirpc.LinkResponse{ImportInstructions: fmt.Sprintf(
		"Declare the package's resources by their type tokens (e.g. `type: %s:index:<Type>`); "+
			"a YAML program needs no generated SDK.", strings.Join(names, ", "))}, nil
}

func main() {
	var tracing, root, compiler string
	flag.StringVar(&tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	flag.StringVar(&root, "root", "", "Root of the program execution")
	flag.StringVar(&compiler, "compiler", "", "[obsolete] Compiler to use to pre-process YAML")
	flag.Parse()
	args := flag.Args()
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-yaml", "pulumi-language-yaml", tracing)

	var engineAddress string
	var cancelChannel chan bool
	if len(args) > 0 {
		engineAddress = args[0]
		// Stop when the engine goes away or on SIGINT.
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
		cancelChannel = make(chan bool)
		go func() {
			<-ctx.Done()
			cancel()
			close(cancelChannel)
		}()
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			host := server.NewLanguageHost(engineAddress, tracing, false /* useRPCLoader */)
			pulumirpc.RegisterLanguageRuntimeServer(srv, linkingHost{host})
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}
