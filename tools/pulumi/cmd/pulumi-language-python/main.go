// Command pulumi-language-python is govcloud's own Pulumi language host for Python.
//
// The upstream host module is not served by the Go module proxy we can reach, so this small host
// implements the parts of the LanguageRuntime protocol that govcloud needs:
//
//   - Run: executes a Python program with the interpreter of the project's virtualenv
//     (Pulumi.yaml runtime.options.virtualenv) through the SDK's pulumi-language-python-exec script;
//   - RunPlugin: runs Python plugins, above all CrossGuard policy packs (`pulumi preview --policy-pack DIR`)
//     with `python -u -m pulumi.policy ENGINE DIR`;
//   - GetRequiredPackages/GetRequiredPlugins: reports the resource plugins that installed Python SDKs
//     declare in their pulumi-plugin.json, so the engine loads them up front;
//   - Handshake, GetPluginInfo, About, GetProgramDependencies, InstallDependencies (a no-op check:
//     dependencies come from requirements.lock through bootstrap.sh, never from the internet).
//
// Everything else (code generation, templates) is left unimplemented on purpose.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// hostVersion is set at link time (-X main.hostVersion=...).
var hostVersion = "0.0.0-dev"

// exitCodeBail is what pulumi-language-python-exec returns when the program already reported its error.
const exitCodeBail = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	execDir       string // directory holding pulumi-language-python-exec
	selfDir       string // directory the host was started from (unresolved), e.g. .venv/bin
}

func main() {
	var engine string
	// The engine passes logging flags before the positional engine address; accept and ignore them.
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--tracing" || a == "-tracing" || a == "--root" || a == "-root":
			i++ // flag with a separate value
		case strings.HasPrefix(a, "-"):
			// --logtostderr, -v=N, --tracing=..., --root=...: nothing to do
		default:
			engine = a
		}
	}
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "version") {
		fmt.Println(hostVersion)
		return
	}

	h := &host{engineAddress: engine}
	h.execDir, h.selfDir = locate()

	cancel := make(chan bool)
	if engine != "" {
		// Stop when the engine goes away, so no host outlives its `pulumi` process.
		go func() {
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			if err := rpcutil.Healthcheck(ctx, engine, 30*time.Second, stop); err != nil {
				return
			}
			<-ctx.Done()
			close(cancel)
		}()
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start the gRPC server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

// locate returns the directory of the resolved executable (where the exec script is installed) and the
// directory it was invoked from (a symlink farm such as .venv/bin, whose python is a good default).
func locate() (string, string) {
	execDir, selfDir := "", ""
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		execDir = filepath.Dir(exe)
	}
	argv0 := os.Args[0]
	if !strings.Contains(argv0, string(os.PathSeparator)) {
		if p, err := exec.LookPath(argv0); err == nil {
			argv0 = p
		}
	}
	if abs, err := filepath.Abs(argv0); err == nil {
		selfDir = filepath.Dir(abs)
	}
	return execDir, selfDir
}

// python picks the interpreter for a program or plugin: the virtualenv option (relative to the project
// root), else PULUMI_PYTHON_CMD, else VIRTUAL_ENV, else the python next to this host (.venv/bin), else python3.
func (h *host) python(info *pulumirpc.ProgramInfo) (string, string, error) {
	if info != nil && info.Options != nil {
		if v, ok := info.Options.AsMap()["virtualenv"].(string); ok && v != "" {
			venv := v
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.RootDirectory, venv)
			}
			py := filepath.Join(venv, "bin", "python")
			if _, err := os.Stat(py); err != nil {
				return "", "", fmt.Errorf("the virtualenv option points at %q, but %s does not exist; "+
					"run ./bootstrap.sh setup to create it", venv, py)
			}
			return py, venv, nil
		}
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd, "", nil
	}
	if venv := os.Getenv("VIRTUAL_ENV"); venv != "" {
		if py := filepath.Join(venv, "bin", "python"); fileExists(py) {
			return py, venv, nil
		}
	}
	if py := filepath.Join(h.selfDir, "python"); h.selfDir != "" && fileExists(py) {
		return py, filepath.Dir(h.selfDir), nil
	}
	return "python3", "", nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// environ is the child environment: ours, the extra entries, and the virtualenv's bin first on PATH.
func environ(venv string, extra ...string) []string {
	env := append([]string{}, os.Environ()...)
	env = append(env, extra...)
	if venv != "" {
		out := env[:0]
		for _, kv := range env {
			if strings.HasPrefix(kv, "PYTHONHOME=") {
				continue
			}
			out = append(out, kv)
		}
		env = append(out, "VIRTUAL_ENV="+venv, "PATH="+filepath.Join(venv, "bin")+
			string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return env
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (
	*pulumirpc.LanguageHandshakeResponse, error,
) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: hostVersion}, nil
}

// pluginFile is the pulumi-plugin.json that Pulumi Python SDK packages ship.
type pluginFile struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
}

// requiredPackages reads pulumi-plugin.json of every package in the interpreter's site-packages.
func (h *host) requiredPackages(info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	py, venv, err := h.python(info)
	if err != nil {
		return nil, err
	}
	var dirs []string
	if venv != "" {
		dirs, _ = filepath.Glob(filepath.Join(venv, "lib", "python*", "site-packages"))
	} else {
		out, err := exec.Command(py, "-c", "import site,sys;print('\\n'.join(site.getsitepackages()))").Output()
		if err != nil {
			return nil, fmt.Errorf("listing site-packages of %s: %w", py, err)
		}
		dirs = strings.Fields(string(out))
	}
	seen := map[string]bool{}
	var deps []*pulumirpc.PackageDependency
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "pulumi-plugin.json"))
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var pf pluginFile
			if json.Unmarshal(data, &pf) != nil || !pf.Resource || pf.Name == "" {
				continue
			}
			key := pf.Name + "@" + pf.Version
			if seen[key] {
				continue
			}
			seen[key] = true
			v := pf.Version
			if v != "" && !strings.HasPrefix(v, "v") {
				v = "v" + v
			}
			deps = append(deps, &pulumirpc.PackageDependency{
				Kind: "resource", Name: pf.Name, Version: v, Server: pf.Server,
			})
		}
	}
	return deps, nil
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (
	*pulumirpc.GetRequiredPackagesResponse, error,
) {
	deps, err := h.requiredPackages(req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

//nolint:staticcheck // deprecated in the protocol but still called by some engine paths
func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest) (
	*pulumirpc.GetRequiredPluginsResponse, error,
) {
	deps, err := h.requiredPackages(req.GetInfo())
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	py, venv, err := h.python(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	execScript := filepath.Join(h.execDir, "pulumi-language-python-exec")
	if !fileExists(execScript) {
		return nil, fmt.Errorf("%s is missing: run `govcloud setup`", execScript)
	}
	program := req.GetProgram() //nolint:staticcheck // fallback for engines without ProgramInfo
	if info != nil && info.ProgramDirectory != "" {
		program = filepath.Join(info.ProgramDirectory, info.EntryPoint)
	}
	args := []string{"-u", execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
	}
	if info != nil && info.RootDirectory != "" {
		args = append(args, "--root_directory", info.RootDirectory)
	}
	if req.GetDryRun() {
		args = append(args, "--dry_run", "true")
	}
	args = append(args, "--parallel", strconv.Itoa(int(req.GetParallel())))
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{} // the SDK expects an object, never null
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Dir = req.GetPwd()
	extra := []string{"PULUMI_CONFIG=" + string(config), "PULUMI_CONFIG_SECRET_KEYS=" + string(secrets)}
	if venv != "" {
		extra = append(extra, "PULUMI_RUNTIME_VIRTUALENV="+venv)
	}
	cmd.Env = environ(venv, extra...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code := exitErr.ExitCode()
			if code == exitCodeBail {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run %s): %v", py, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// RunPlugin runs a plugin written in Python. Policy packs (kind "analyzer") go through pulumi.policy,
// which loads the pack directory's __main__.py; other plugins run their entry point directly.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest,
	stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	info := req.GetInfo()
	py, venv, err := h.python(info)
	if err != nil {
		return err
	}
	dir := req.GetPwd()
	if info != nil && info.ProgramDirectory != "" {
		dir = info.ProgramDirectory
	}
	var args []string
	if req.GetKind() == "analyzer" {
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, dir)
	} else {
		entry := dir
		if info != nil && info.EntryPoint != "" {
			entry = filepath.Join(dir, info.EntryPoint)
		}
		args = append([]string{"-u", entry}, req.GetArgs()...)
	}
	cmd := exec.CommandContext(stream.Context(), py, args...)
	cmd.Dir = dir
	cmd.Env = environ(venv, req.GetEnv()...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", py, err)
	}
	var sendMu sync.Mutex
	send := func(resp *pulumirpc.RunPluginResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		_ = stream.Send(resp)
	}
	var wg sync.WaitGroup
	pump := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer wg.Done()
		br := bufio.NewReader(r)
		buf := make([]byte, 32*1024)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				send(wrap(append([]byte(nil), buf[:n]...)))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go pump(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	wg.Wait()
	code := 0
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = exitErr.ExitCode()
	}
	send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
	return nil
}

// InstallDependencies only checks that the interpreter exists: dependencies are pinned in
// requirements.lock and installed by bootstrap.sh, never fetched here.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	py, _, err := h.python(req.GetInfo())
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("using %s; dependencies come from requirements.lock (./bootstrap.sh setup)\n", py)
	return stream.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte(msg)})
}

func (h *host) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py, _, err := h.python(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(py, "-c", "import platform;print(platform.python_version())").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", py, err)
	}
	return &pulumirpc.AboutResponse{Executable: py, Version: strings.TrimSpace(string(out)),
		Metadata: map[string]string{"host": "govcloud pulumi-language-python " + hostVersion}}, nil
}

func (h *host) GetProgramDependencies(_ context.Context, req *pulumirpc.GetProgramDependenciesRequest) (
	*pulumirpc.GetProgramDependenciesResponse, error,
) {
	py, _, err := h.python(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(py, "-c",
		"import json,importlib.metadata as m;"+
			"print(json.dumps(sorted({d.metadata['Name']:d.version for d in m.distributions()}.items())))").Output()
	if err != nil {
		return nil, fmt.Errorf("listing packages with %s: %w", py, err)
	}
	var pairs [][2]string
	if err := json.Unmarshal(out, &pairs); err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pairs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p[0], Version: p[1]})
	}
	return resp, nil
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest) (
	*pulumirpc.RuntimeOptionsResponse, error,
) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
