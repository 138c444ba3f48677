package image

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fakeBinDir makes a bin dir whose three "binaries" are copies of the static
// busybox, each followed by a marker so the test can tell them apart.
func fakeBinDir(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Skipf("needs %s (apt-get install busybox-static): %v", BusyboxPath, err)
	}
	d := t.TempDir()
	for _, b := range binaries {
		if err := os.WriteFile(filepath.Join(d, b), append(slices.Clip(bb), []byte("MARK:"+b)...), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// readImage loads ref from a docker-archive and returns its config and files.
func readImage(t *testing.T, path, ref string) (*v1.ConfigFile, map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("read back %s from %s: %v", ref, path, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	hdrs := map[string]*tar.Header{}
	data := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n := "/" + strings.TrimSuffix(h.Name, "/")
		hdrs[n] = h
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			data[n] = b
		}
	}
	return cf, hdrs, data
}

func TestBuildAll(t *testing.T) {
	bin := fakeBinDir(t)
	out := t.TempDir()
	var progress strings.Builder
	built, err := BuildAll(context.Background(), Options{OutDir: out, BinDir: bin, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 2 || built[0].Ref != PauseRef || built[1].Ref != StandinRef {
		t.Fatalf("built %+v", built)
	}
	if !strings.Contains(progress.String(), StandinRef) {
		t.Errorf("progress does not name the stand-in image: %q", progress.String())
	}

	t.Run("standin", func(t *testing.T) {
		cf, hdrs, data := readImage(t, built[1].Path, StandinRef)
		if got := cf.Config.Entrypoint; !slices.Equal(got, []string{"/usr/irissys/bin/iris-main"}) {
			t.Errorf("entrypoint %q", got)
		}
		if cf.OS != "linux" || cf.Architecture == "" {
			t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
		}
		env := strings.Join(cf.Config.Env, "\n")
		for _, want := range []string{"PATH=/usr/irissys/bin:", "IRISCHAOS_RUN_DIR=/run/irissys"} {
			if !strings.Contains(env, want) {
				t.Errorf("env lacks %q: %s", want, env)
			}
		}
		if !strings.HasSuffix(string(data["/usr/irissys/bin/iris-main"]), "MARK:iris-main") ||
			!strings.HasSuffix(string(data["/usr/irissys/bin/iris"]), "MARK:iris") {
			t.Error("iris or iris-main is not the given binary")
		}
		for _, l := range []string{"/bin/sh", "/bin/grep", "/bin/cat"} {
			h := hdrs[l]
			if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
				t.Errorf("%s: want symlink to busybox, got %+v", l, h)
			}
		}
		if h := hdrs["/usr/bin/iris"]; h == nil || h.Linkname != "/usr/irissys/bin/iris" {
			t.Errorf("/usr/bin/iris not linked to the iris binary: %+v", h)
		}
		if h := hdrs["/tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
			t.Errorf("/tmp not world-writable sticky: %+v", h)
		}
		if h := hdrs["/run/irissys"]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("no run dir: %+v", h)
		}
		if cf.Config.Labels["org.opencontainers.image.title"] != "irischaos IRIS stand-in" {
			t.Errorf("labels %v", cf.Config.Labels)
		}
	})
	t.Run("pause", func(t *testing.T) {
		cf, _, data := readImage(t, built[0].Path, PauseRef)
		if !slices.Equal(cf.Config.Entrypoint, []string{"/pause"}) {
			t.Errorf("entrypoint %q", cf.Config.Entrypoint)
		}
		if !strings.HasSuffix(string(data["/pause"]), "MARK:pause") {
			t.Error("/pause is not the given binary")
		}
	})
	t.Run("reproducible", func(t *testing.T) {
		again, err := BuildAll(context.Background(), Options{OutDir: t.TempDir(), BinDir: bin})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(built[1].Path)
		b, _ := os.ReadFile(again[1].Path)
		if string(a) != string(b) {
			t.Error("two builds from the same binaries differ")
		}
	})
}

func TestBuildAllRejects(t *testing.T) {
	bin := fakeBinDir(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, bin string)
		want    string
	}{
		{"missing binary", func(t *testing.T, bin string) { os.Remove(filepath.Join(bin, "iris")) }, "lacks iris"},
		{"not ELF", func(t *testing.T, bin string) {
			os.WriteFile(filepath.Join(bin, "pause"), []byte("#!/bin/sh\n"), 0o755)
		}, "not an ELF"},
		{"no busybox", func(t *testing.T, bin string) {
			old := BusyboxPath
			BusyboxPath = filepath.Join(t.TempDir(), "busybox")
			t.Cleanup(func() { BusyboxPath = old })
		}, "apt-get install -y busybox-static"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			for _, b := range binaries {
				src, _ := os.ReadFile(filepath.Join(bin, b))
				os.WriteFile(filepath.Join(d, b), src, 0o755)
			}
			tc.prepare(t, d)
			_, err := BuildAll(context.Background(), Options{OutDir: t.TempDir(), BinDir: d})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := BuildAll(context.Background(), Options{BinDir: bin}); err == nil {
		t.Error("no OutDir accepted")
	}
	if err := checkStatic("/nonexistent/x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestAppletsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range busyboxApplets {
		if seen[a] {
			t.Errorf("applet %q listed twice: the layer would hold two entries for /bin/%s", a, a)
		}
		seen[a] = true
	}
}
