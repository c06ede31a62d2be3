// Command pulumi-language-yaml is the YAML language host the toolchain builds: the language
// runtime of pulumi-yaml's server package, behind a gRPC server of pgfleet's, with the one call
// that pulumi-yaml version lacks and `pulumi package add` makes: Link.
//
// A YAML program needs nothing linked: it names a package's resource tokens, and the engine
// loads the package's schema from its plugin. So Link changes no file and only says how to use
// the package; the CLI records the package in Pulumi.yaml itself.
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

// withLink is a language runtime whose Link call answers with how to use the packages.
type withLink struct {
	pulumirpc.LanguageRuntimeServer
}

func (withLink) Link(_ context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	var names []string
	for _, dep := range req.GetPackages() {
		names = append(names, dep.GetPackage().GetName())
	}
	return &pulumirpc.LinkResponse{ImportInstructions: fmt.Sprintf(
		"Declare the package's resources by their type tokens (e.g. `type: %s:index:<Type>`); "+
			"a YAML program needs no generated SDK.", strings.Join(names, ", "))}, nil
}

// stopWhenEngineGoes returns a channel closed on SIGINT or once the engine at addr stops
// answering its health checks: the server then stops.
func stopWhenEngineGoes(addr string) chan bool {
	stop := make(chan bool)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	go func() {
		<-ctx.Done()
		cancel()
		close(stop)
	}()
	if err := rpcutil.Healthcheck(ctx, addr, 5*time.Minute, cancel); err != nil {
		cmdutil.Exit(fmt.Errorf("health checks of the engine at %s: %w", addr, err))
	}
	return stop
}

func main() {
	// The engine starts language hosts with these flags; -root and -compiler are accepted, unused.
	tracing := flag.String("tracing", "", "a Zipkin-compatible endpoint to send traces to")
	flag.String("root", "", "the program's root folder")
	flag.String("compiler", "", "unused")
	flag.Parse()
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-yaml", "pulumi-language-yaml", *tracing)

	engine := ""
	var stop chan bool
	if flag.NArg() > 0 {
		engine = flag.Arg(0)
		stop = stopWhenEngineGoes(engine)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, withLink{server.NewLanguageHost(engine, *tracing, false)})
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("serving the YAML language host: %w", err))
	}
	// The engine reads the port from the first line of output.
	fmt.Println(handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("the YAML language host stopped: %w", err))
	}
}
