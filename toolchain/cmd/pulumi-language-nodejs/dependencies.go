package main

// The calls `pulumi install`, `pulumi about` and `pulumi package` make of a language host besides
// running programs:
//
//   - InstallDependencies runs `npm ci` in the program's folder when it has a package-lock.json
//     (the versions the program's authors locked), `npm install` otherwise, streaming npm's
//     output to the engine. Projects that use yarn, pnpm or bun are not told apart: npm is the
//     package manager pgfleet documents.
//   - About names the node executable and its version.
//   - GetProgramDependencies lists the program's package.json dependencies with the versions
//     installed in node_modules (every installed package when the engine asks for transitive
//     ones).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	dir := programDir(req.GetInfo(), req.GetDirectory())
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		// Nothing to install: a program without package.json uses the packages of a folder above.
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm was not found on PATH: install Node.js with npm to install the dependencies in %s", dir)
	}
	args := []string{"install", "--no-audit", "--no-fund"}
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err == nil {
		args = []string{"ci", "--no-audit", "--no-fund"}
	}
	cmd := exec.CommandContext(server.Context(), npm, args...)
	cmd.Dir = dir
	cmd.Env = withoutVar(os.Environ(), policyPacksEnv)
	mu := &sync.Mutex{}
	cmd.Stdout = sendWriter{mu: mu, send: func(c []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: c})
	}}
	cmd.Stderr = sendWriter{mu: mu, send: func(c []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: c})
	}}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm %s in %s failed: %w", args[0], dir, err)
	}
	return nil
}

func (h *languageHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	out, err := exec.CommandContext(ctx, h.node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", h.node, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: h.node,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
		Metadata:   map[string]string{"languageHost": "pgfleet"},
	}, nil
}

// installedVersion is the version in node_modules/<name>/package.json above dir, or "" when the
// package is not installed.
func installedVersion(dir, name string) string {
	file, ok := findUp(dir, filepath.Join("node_modules", name, "package.json"))
	if !ok {
		return ""
	}
	var pkg packageJSON
	data, err := os.ReadFile(file)
	if err != nil || json.Unmarshal(data, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

func (h *languageHost) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDir(req.GetInfo(), req.GetPwd())
	manifest, ok := findUp(dir, "package.json")
	if !ok {
		return nil, fmt.Errorf("no package.json in %s or a folder above it", dir)
	}
	data, err := os.ReadFile(manifest)
	if err != nil {
		return nil, err
	}
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return nil, fmt.Errorf("%s: %w", manifest, err)
	}
	root := filepath.Dir(manifest)
	names := map[string]bool{}
	for name := range pkg.Dependencies {
		names[name] = true
	}
	for name := range pkg.DevDependencies {
		names[name] = true
	}
	if req.GetTransitiveDependencies() {
		for _, name := range installedPackages(filepath.Join(root, "node_modules")) {
			names[name] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	deps := make([]*pulumirpc.DependencyInfo, 0, len(sorted))
	for _, name := range sorted {
		if version := installedVersion(root, name); version != "" {
			deps = append(deps, &pulumirpc.DependencyInfo{Name: name, Version: version})
		}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// installedPackages lists the packages at the top of a node_modules folder (scoped ones as
// `@scope/name`).
func installedPackages(modules string) []string {
	var names []string
	entries, _ := os.ReadDir(modules)
	for _, entry := range entries {
		name := entry.Name()
		switch {
		case strings.HasPrefix(name, "."):
		case strings.HasPrefix(name, "@"):
			scoped, _ := os.ReadDir(filepath.Join(modules, name))
			for _, s := range scoped {
				names = append(names, name+"/"+s.Name())
			}
		default:
			names = append(names, name)
		}
	}
	return names
}
