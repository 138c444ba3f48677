// Package image builds the OCI images the local cluster runs, the pod sandbox
// (pause) image and the IRIS stand-in image, as docker-archive tarballs that
// `ctr -n k8s.io images import` accepts. It uses go-containerregistry: no
// Docker engine, no registry.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/irischaos/irischaos/internal/lab/standin"
)

// StandinVersion is the tag of the stand-in image: the stand-in's version.
const StandinVersion = standin.Version

// References of the images BuildAll writes. The localhost registry never
// resolves, so the kubelet can only use the imported copy.
const (
	PauseRef   = "localhost/irischaos/pause:1"
	StandinRef = "localhost/irischaos/iris-standin:" + StandinVersion
)

// Paths inside the stand-in image.
const (
	InstallDir = "/usr/irissys"
	// RunDir is the container-local directory of the instance's socket,
	// pid and state files (see internal/lab/standin/instance).
	RunDir = "/run/irissys"
)

// BusyboxPath is where Debian's busybox-static puts its binary.
var BusyboxPath = "/bin/busybox"

// busyboxApplets become symlinks in /bin: the shell and tools probes and
// operators use inside the container.
var busyboxApplets = []string{
	"sh", "ash", "grep", "egrep", "cat", "ls", "sleep", "ps", "echo", "cut", "head",
	"tail", "mkdir", "rm", "kill", "env", "test", "[", "true", "false", "wc", "sed",
	"awk", "tr", "date", "hostname", "id", "find", "df", "du", "mount", "pidof",
	"cp", "mv", "chmod", "chown", "touch", "stat", "sync", "uname", "tee", "printf",
	"xargs", "sort", "uniq", "less", "vi", "timeout", "ln", "readlink", "which",
}

// Options says where the binaries are and where the tarballs go.
type Options struct {
	// OutDir receives pause.tar and iris-standin.tar.
	OutDir string
	// BinDir holds the static binaries iris, iris-main and pause. Empty means
	// the directory of the running executable (make build puts them next to
	// bin/irischaos); when they are not there and the working directory is
	// inside this module's source tree, they are built with `go build`.
	BinDir string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// Built is one image tarball.
type Built struct {
	Ref, Path string
}

// binaries the images need, by file name.
var binaries = []string{"iris", "iris-main", "pause"}

// BuildAll writes the pause image and the stand-in image into o.OutDir.
func BuildAll(ctx context.Context, o Options) ([]Built, error) {
	if o.OutDir == "" {
		return nil, errors.New("image: no output directory given (set Options.OutDir / --out)")
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	binDir, err := resolveBinDir(ctx, o.BinDir, progress)
	if err != nil {
		return nil, err
	}
	for _, b := range binaries {
		if err := checkStatic(filepath.Join(binDir, b)); err != nil {
			return nil, err
		}
	}
	if err := checkStatic(BusyboxPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("image: %s is missing; the stand-in image needs a static shell and grep for its liveness probe: install it with `sudo apt-get install -y busybox-static`", BusyboxPath)
		}
		return nil, fmt.Errorf("%w (install Debian's busybox-static: `sudo apt-get install -y busybox-static`)", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("image: create output directory: %w", err)
	}

	var out []Built
	steps := []struct {
		ref, file string
		build     func(string) (v1.Image, error)
	}{
		{PauseRef, "pause.tar", pauseImage},
		{StandinRef, "iris-standin.tar", standinImage},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		img, err := s.build(binDir)
		if err != nil {
			return out, fmt.Errorf("image %s: %w", s.ref, err)
		}
		path := filepath.Join(o.OutDir, s.file)
		if err := writeTarball(path, s.ref, img); err != nil {
			return out, fmt.Errorf("image %s: %w", s.ref, err)
		}
		fmt.Fprintf(progress, "image %s -> %s\n", s.ref, path)
		out = append(out, Built{Ref: s.ref, Path: path})
	}
	return out, nil
}

// writeTarball writes img as a docker-archive tagged ref, atomically.
func writeTarball(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("bad reference %q: %w", ref, err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// resolveBinDir finds the directory holding the three binaries.
func resolveBinDir(ctx context.Context, dir string, progress io.Writer) (string, error) {
	if dir != "" {
		if missing := missingBinaries(dir); len(missing) > 0 {
			return "", fmt.Errorf("image: --bin-dir %s lacks %s; run `make build` (it writes bin/iris, bin/iris-main and bin/pause)", dir, strings.Join(missing, ", "))
		}
		return dir, nil
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			d := filepath.Dir(exe)
			if len(missingBinaries(d)) == 0 {
				return d, nil
			}
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("image: the binaries iris, iris-main and pause are not next to this executable, and building them needs the source tree: %w; run `make build` or pass --bin-dir", err)
	}
	out, err := os.MkdirTemp("", "irischaos-bin-")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "binaries not next to the executable: building them from %s into %s with go build\n", root, out)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out+"/", "./internal/lab/cmd/iris", "./internal/lab/cmd/iris-main", "./internal/lab/cmd/pause")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("image: go build of the stand-in binaries failed: %w\n%s", err, b)
	}
	return out, nil
}

func missingBinaries(dir string) []string {
	var missing []string
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			missing = append(missing, b)
		}
	}
	return missing
}

// moduleRoot walks up from the working directory to this module's go.mod.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/irischaos/irischaos\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no irischaos go.mod above the working directory")
		}
		d = parent
	}
}

// checkStatic rejects a file that is missing, not ELF or dynamically linked:
// the images carry no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("image: %s: %w", path, os.ErrNotExist)
		}
		return fmt.Errorf("image: %s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("image: %s is dynamically linked; the images have no libc: rebuild it static (CGO_ENABLED=0, as `make build` does)", path)
		}
	}
	return nil
}

// epoch is the fixed time of every file and config, so rebuilding from the
// same binaries gives the same image digest.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// entry is one file of a layer.
type entry struct {
	name     string // absolute path in the image
	mode     int64
	typ      byte
	linkname string
	src      string // host file to copy, for regular files
	data     string // literal content, for regular files without src
}

func dir(p string, mode int64) entry { return entry{name: p, mode: mode, typ: tar.TypeDir} }
func file(p, src string) entry       { return entry{name: p, mode: 0o755, typ: tar.TypeReg, src: src} }
func symlink(p, target string) entry {
	return entry{name: p, mode: 0o777, typ: tar.TypeSymlink, linkname: target}
}
func content(p string, b string) entry { return entry{name: p, mode: 0o644, typ: tar.TypeReg, data: b} }

// layer packs entries into an uncompressed tar layer.
func layer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: strings.TrimPrefix(e.name, "/"), Mode: e.mode, Typeflag: e.typ,
			ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX,
		}
		var body []byte
		switch e.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = e.linkname
		case tar.TypeReg:
			if e.src != "" {
				b, err := os.ReadFile(e.src)
				if err != nil {
					return nil, err
				}
				body = b
			} else {
				body = []byte(e.data)
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// baseFS is the skeleton every image gets.
func baseFS() []entry {
	return []entry{
		dir("/bin", 0o755), dir("/etc", 0o755), dir("/tmp", 0o1777), dir("/run", 0o755),
		dir("/usr", 0o755), dir("/usr/bin", 0o755), dir("/var", 0o755), dir("/var/tmp", 0o1777),
		dir("/proc", 0o555), dir("/sys", 0o555), dir("/dev", 0o755),
		content("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nirisowner:x:51773:51773:irisowner:/home/irisowner:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
		content("/etc/group", "root:x:0:\nirisowner:x:51773:\nnogroup:x:65534:\n"),
		dir("/root", 0o700),
	}
}

func image(entries []entry, cfg v1.Config) (v1.Image, error) {
	l, err := layer(entries)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

func pauseImage(binDir string) (v1.Image, error) {
	entries := append(baseFS(), file("/pause", filepath.Join(binDir, "pause")))
	return image(entries, v1.Config{
		Entrypoint: []string{"/pause"},
		Env:        []string{"PATH=/usr/bin:/bin"},
		Labels:     map[string]string{"org.opencontainers.image.title": "irischaos pause"},
	})
}

func standinImage(binDir string) (v1.Image, error) {
	entries := baseFS()
	entries = append(entries,
		file("/bin/busybox", BusyboxPath),
		dir(InstallDir, 0o755), dir(InstallDir+"/bin", 0o755), dir(InstallDir+"/mgr", 0o775),
		file(InstallDir+"/bin/iris", filepath.Join(binDir, "iris")),
		file(InstallDir+"/bin/iris-main", filepath.Join(binDir, "iris-main")),
		symlink("/usr/bin/iris", InstallDir+"/bin/iris"),
		symlink("/iris-main", InstallDir+"/bin/iris-main"),
		dir(RunDir, 0o775),
		dir("/home", 0o755), dir("/home/irisowner", 0o755),
	)
	for _, a := range busyboxApplets {
		entries = append(entries, symlink("/bin/"+a, "busybox"))
	}
	return image(entries, v1.Config{
		Entrypoint: []string{InstallDir + "/bin/iris-main"},
		Env: []string{
			"PATH=" + InstallDir + "/bin:/usr/bin:/bin",
			"ISC_PACKAGE_INSTANCENAME=IRIS",
			"ISC_PACKAGE_INSTALLDIR=" + InstallDir,
			"IRISCHAOS_RUN_DIR=" + RunDir,
		},
		WorkingDir:   "/home/irisowner",
		ExposedPorts: map[string]struct{}{"52773/tcp": {}, "1972/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       standin.Product,
			"org.opencontainers.image.version":     StandinVersion,
			"org.opencontainers.image.description": "Stand-in for InterSystems IRIS with its command-line surface and journal durability model; not InterSystems IRIS.",
		},
	})
}
