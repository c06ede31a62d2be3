// Command pulumi-language-nodejs is pgfleet's Node.js language host for the Pulumi engine.
//
// The Pulumi CLI runs a Node.js program through a language host: a gRPC server that the engine
// starts, reads a port from, and asks to Run the program. The upstream host is a separate Go
// module that the module proxy reachable here does not serve, so pgfleet carries this one. It
// implements the part of the LanguageRuntime protocol that `pulumi up/preview/destroy/refresh`
// and `--policy-pack` need:
//
//   - Run starts `node <@pulumi/pulumi>/cmd/run` with the engine's monitor address, stack,
//     project and config (the same command line and environment the SDK's run script documents);
//   - RunPlugin starts policy packs through the `pulumi-analyzer-policy` shim installed beside
//     this binary, and resource plugins through `@pulumi/pulumi/cmd/run-plugin`, streaming their
//     output back to the engine;
//   - Run also tells the program which policy packs the engine started for this run (through
//     RunPlugin, before it runs the program) and the `--policy-pack`/`--policy-pack-config` values
//     of the engine's command line, in PGFLEET_POLICY_PACKS: pgfleet's production gate (index.ts) trusts
//     this, never a value inherited from the caller's environment;
//   - GetRequiredPlugins/GetRequiredPackages report the provider packages in node_modules whose
//     plugin binary is on PATH (there is no plugin download here, so a package whose plugin is
//     missing is left for the engine to load on demand, where it fails with a clear message);
//   - InstallDependencies, About and GetProgramDependencies (dependencies.go) answer
//     `pulumi install` and `pulumi about`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// exitCodeErrorReported is the exit code the SDK's run script uses when it has already reported
// the program's error to the engine, so the host must not report it a second time.
const exitCodeErrorReported = 32

func main() {
	engineAddress := ""
	for _, arg := range os.Args[1:] {
		// The engine passes flags such as -root=<dir> and -tracing=<url>, then the engine address.
		if !strings.HasPrefix(arg, "-") && engineAddress == "" {
			engineAddress = arg
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-language-nodejs: node was not found on PATH; install Node.js 20 or newer")
		os.Exit(1)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: cannot locate itself: %v\n", err)
		os.Exit(1)
	}
	host := &languageHost{node: node, binDir: filepath.Dir(self), engineAddress: engineAddress}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: cannot start the gRPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of our standard output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: server stopped: %v\n", err)
		os.Exit(1)
	}
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	node   string
	binDir string

	mu            sync.Mutex
	engineAddress string
	// The folders of the policy packs started through RunPlugin.
	policyPacks []string
}

// policyPacksEnv is the variable the program reads; see policyPacksReport.
const policyPacksEnv = "PGFLEET_POLICY_PACKS"

// engineArgs is the engine's (our parent's) command line and working folder, from /proc.
func engineArgs() ([]string, string) {
	ppid := os.Getppid()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ppid))
	if err != nil {
		return nil, ""
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", ppid))
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), cwd
}

// flagValues returns the values of `--<name> v` / `--<name>=v` on a command line, made absolute.
func flagValues(args []string, cwd, name string) []string {
	var values []string
	for i := 0; i < len(args); i++ {
		value := ""
		switch {
		case args[i] == "--"+name && i+1 < len(args):
			value = args[i+1]
			i++
		case strings.HasPrefix(args[i], "--"+name+"="):
			value = strings.TrimPrefix(args[i], "--"+name+"=")
		default:
			continue
		}
		if !filepath.IsAbs(value) && cwd != "" {
			value = filepath.Join(cwd, value)
		}
		values = append(values, value)
	}
	return values
}

// policyPacksReport is the JSON the program gets in PGFLEET_POLICY_PACKS: the packs the engine has
// started through this host ("packs"), and the `--policy-pack` and `--policy-pack-config` values of
// the engine's command line ("packArgs", "configs": the engine pairs them by position).
func (h *languageHost) policyPacksReport() string {
	h.mu.Lock()
	packs := append([]string{}, h.policyPacks...)
	h.mu.Unlock()
	args, cwd := engineArgs()
	report, _ := json.Marshal(map[string][]string{
		"packs":    packs,
		"packArgs": flagValues(args, cwd, "policy-pack"),
		"configs":  flagValues(args, cwd, "policy-pack-config"),
	})
	return string(report)
}

// withoutVar returns env without any assignment of name (a caller cannot pre-set what the host reports).
func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func (h *languageHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// programDir is where the program (or plugin) lives: the ProgramInfo's directory when the engine
// sends one, the working directory otherwise.
func programDir(info *pulumirpc.ProgramInfo, pwd string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	if pwd != "" {
		return pwd
	}
	wd, _ := os.Getwd()
	return wd
}

// findUp returns the first <dir>/<rel> that exists, walking from start to the filesystem root.
func findUp(start, rel string) (string, bool) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", false
	}
	for {
		candidate := filepath.Join(dir, rel)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func sdkCommand(dir, name string) (string, error) {
	path, ok := findUp(dir, filepath.Join("node_modules", "@pulumi", "pulumi", "cmd", name))
	if !ok {
		return "", fmt.Errorf("the @pulumi/pulumi package was not found in node_modules above %s; run `npm ci` first", dir)
	}
	return path, nil
}

type packageJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pulumi  struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

// providerPackages lists the resource provider packages installed in the node_modules folder
// nearest to dir whose plugin binary can be found on PATH.
func providerPackages(dir string) []packageJSON {
	modules, ok := findUp(dir, "node_modules")
	if !ok {
		return nil
	}
	var found []packageJSON
	scopes, _ := filepath.Glob(filepath.Join(modules, "@*", "*", "package.json"))
	plain, _ := filepath.Glob(filepath.Join(modules, "*", "package.json"))
	for _, file := range append(scopes, plain...) {
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var pkg packageJSON
		if json.Unmarshal(raw, &pkg) != nil || !pkg.Pulumi.Resource {
			continue
		}
		if pkg.Pulumi.Name == "" {
			pkg.Pulumi.Name = strings.TrimPrefix(strings.TrimPrefix(pkg.Name, "@pulumi/"), "@")
		}
		if pkg.Pulumi.Version == "" {
			pkg.Pulumi.Version = pkg.Version
		}
		if !strings.HasPrefix(pkg.Pulumi.Version, "v") {
			pkg.Pulumi.Version = "v" + pkg.Pulumi.Version
		}
		if _, err := exec.LookPath("pulumi-resource-" + pkg.Pulumi.Name); err != nil {
			continue
		}
		found = append(found, pkg)
	}
	return found
}

func (h *languageHost) GetRequiredPlugins(
	_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	var plugins []*pulumirpc.PluginDependency
	for _, pkg := range providerPackages(programDir(req.GetInfo(), req.GetProgram())) {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: pkg.Pulumi.Name, Kind: "resource", Version: pkg.Pulumi.Version, Server: pkg.Pulumi.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *languageHost) GetRequiredPackages(
	_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	var packages []*pulumirpc.PackageDependency
	for _, pkg := range providerPackages(programDir(req.GetInfo(), "")) {
		packages = append(packages, &pulumirpc.PackageDependency{
			Name: pkg.Pulumi.Name, Kind: "resource", Version: pkg.Pulumi.Version, Server: pkg.Pulumi.Server,
		})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// runtimeOptions reads the `runtime.options` block of Pulumi.yaml as the engine forwards it.
type runtimeOptions struct {
	typescript bool
	tsconfig   string
	nodeargs   []string
}

func readOptions(info *pulumirpc.ProgramInfo) runtimeOptions {
	opts := runtimeOptions{typescript: true}
	if info == nil || info.GetOptions() == nil {
		return opts
	}
	fields := info.GetOptions().GetFields()
	if v, ok := fields["typescript"]; ok {
		if b, isBool := v.GetKind().(*structpb.Value_BoolValue); isBool {
			opts.typescript = b.BoolValue
		}
	}
	if v, ok := fields["tsconfig"]; ok {
		opts.tsconfig = v.GetStringValue()
	}
	if v, ok := fields["nodeargs"]; ok {
		opts.nodeargs = strings.Fields(v.GetStringValue())
	}
	return opts
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	dir := programDir(req.GetInfo(), req.GetPwd())
	runPath, err := sdkCommand(dir, "run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	opts := readOptions(req.GetInfo())

	program := req.GetProgram()
	if info := req.GetInfo(); info != nil && info.GetEntryPoint() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	if program == "" {
		program = "."
	}

	args := append([]string{}, opts.nodeargs...)
	args = append(args, runPath)
	flag := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name+"="+value)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", h.engine())
	flag("organization", req.GetOrganization())
	flag("project", req.GetProject())
	flag("stack", req.GetStack())
	flag("pwd", req.GetPwd())
	if info := req.GetInfo(); info != nil {
		flag("root-directory", info.GetRootDirectory())
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 0 {
		flag("parallel", fmt.Sprint(req.GetParallel()))
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("serialising config: %w", err)
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, fmt.Errorf("serialising secret config keys: %w", err)
	}
	env := append(withoutVar(os.Environ(), policyPacksEnv),
		policyPacksEnv+"="+h.policyPacksReport(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		fmt.Sprintf("PULUMI_NODEJS_TYPESCRIPT=%t", opts.typescript),
	)
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}

	cmd := exec.CommandContext(ctx, h.node, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code := exitErr.ExitCode()
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
				return &pulumirpc.RunResponse{Error: fmt.Sprintf("the program was stopped by signal %v", status.Signal())}, nil
			}
			if code == exitCodeErrorReported {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("the program exited with code %d", code)}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start node: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// sendWriter forwards a child process's output to the engine, one message per write; the
// writers of one process share mu, as a gRPC stream takes one Send at a time.
type sendWriter struct {
	mu   *sync.Mutex
	send func(chunk []byte) error
}

func (w sendWriter) Write(p []byte) (int, error) {
	chunk := append([]byte(nil), p...)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.send(chunk); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	dir := programDir(req.GetInfo(), req.GetPwd())
	var cmd *exec.Cmd
	switch req.GetKind() {
	case "analyzer":
		// Policy packs start through the shim the CLI distribution ships beside the language host;
		// it takes the engine address and the policy pack folder, and runs in that folder.
		h.mu.Lock()
		h.policyPacks = append(h.policyPacks, dir)
		h.mu.Unlock()
		shim := filepath.Join(h.binDir, "pulumi-analyzer-policy")
		cmd = exec.CommandContext(server.Context(), shim, append(append([]string{}, req.GetArgs()...), ".")...)
	default:
		runPlugin, err := sdkCommand(dir, "run-plugin")
		if err != nil {
			return err
		}
		args := append([]string{runPlugin, "--pwd=" + dir, dir}, req.GetArgs()...)
		cmd = exec.CommandContext(server.Context(), h.node, args...)
	}
	cmd.Dir = dir
	cmd.Env = append(withoutVar(os.Environ(), policyPacksEnv), req.GetEnv()...)
	mu := &sync.Mutex{}
	cmd.Stdout = sendWriter{mu: mu, send: func(c []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: c}})
	}}
	cmd.Stderr = sendWriter{mu: mu, send: func(c []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: c}})
	}}

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("starting plugin in %s: %w", dir, err)
		}
		code = int32(exitErr.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

var _ io.Writer = sendWriter{}
