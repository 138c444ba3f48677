package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/internal/promtest"
	"github.com/irischaos/irischaos/pkg/chromium"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/rundir/rundirtest"
)

// TestReportPDF: `irischaos report RUN --pdf` prints report.pdf with headless
// Chromium; pdfinfo and pdftotext (poppler-utils) read it back: several A4
// pages, each headed with the run and footed with the manifest's SHA-256
// and "Page i of n", and the report's content in it. verify still passes.
func TestReportPDF(t *testing.T) {
	promtest.NeedTool(t, "pdfinfo", "poppler-utils")
	promtest.NeedTool(t, "pdftotext", "poppler-utils")
	if _, err := chromium.Find(); err != nil {
		promtest.NeedTool(t, "chromium", "chromium")
	}
	dir, run := rundirtest.Write(t, t.TempDir())
	if out, code, err := runCLIErr(t, "report", dir, "--pdf"); code != exitPass {
		t.Fatalf("report --pdf: exit %d: %v\n%s", code, err, out)
	}
	pdf := filepath.Join(dir, rundir.PDFFile)

	info, err := exec.Command("pdfinfo", pdf).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, info)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindSubmatch(info)
	if m == nil {
		t.Fatalf("pdfinfo gives no page count:\n%s", info)
	}
	pages, _ := strconv.Atoi(string(m[1]))
	if pages < 3 || pages > 30 {
		t.Errorf("%d pages; want the report on a few pages (3 to 30)", pages)
	}
	if !regexp.MustCompile(`Page size:\s+595(\.\d+)? x 84[12]`).Match(info) {
		t.Errorf("not A4:\n%s", info)
	}

	txt, err := exec.Command("pdftotext", "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, txt)
	}
	manifest, err := os.ReadFile(filepath.Join(dir, rundir.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(manifest)
	digest := hex.EncodeToString(sum[:])
	runDir := filepath.Base(dir)
	texts := strings.Split(strings.TrimRight(string(txt), "\f"), "\f") // a form feed ends each page
	if len(texts) != pages {
		t.Errorf("pdftotext gives %d pages, pdfinfo %d", len(texts), pages)
	}
	for i, p := range texts {
		for _, want := range []string{
			"irischaos report " + runDir, "verdict FAIL",
			"cluster " + run.Environment.ClusterUID, digest,
			fmt.Sprintf("Page %d of %d", i+1, pages),
		} {
			if !strings.Contains(p, want) {
				t.Errorf("page %d lacks %q", i+1, want)
			}
		}
	}
	all := string(txt)
	for _, want := range []string{"Failure domains", "RTO and RPO against their budgets", "Pod / container", "Node or disk permanently lost", "node-lost #1", "pod #3"} {
		if !strings.Contains(all, want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	out := filepath.Join(outputDirCmd(t), rundir.PDFFile)
	if b, err := os.ReadFile(pdf); err == nil {
		_ = os.WriteFile(out, b, 0o644)
		t.Logf("report.pdf (%d pages, %d bytes): %s", pages, len(b), out)
	}
	// report -o html draws every timeline inline from the histories.
	if page, code := runCLI(t, "report", dir, "-o", "html"); code != exitPass || strings.Count(page, `<figure class="timeline"><svg`) != len(run.Iterations) {
		t.Errorf("report -o html: exit %d, %d inline timelines, want %d", code, strings.Count(page, `<figure class="timeline"><svg`), len(run.Iterations))
	}
	// The PDF is outside the manifest: the run still verifies.
	if out, code := runCLI(t, "verify", dir); code != exitPass {
		t.Errorf("verify after --pdf: exit %d\n%s", code, out)
	}
}

// TestReportPDFWithoutChromium: a clear error that says what to install.
func TestReportPDFWithoutChromium(t *testing.T) {
	t.Setenv(chromium.EnvPath, filepath.Join(t.TempDir(), "no-such-chromium"))
	dir, _ := rundirtest.Write(t, t.TempDir())
	_, code, err := runCLIErr(t, "report", dir, "--pdf")
	if code != exitUnknown || err == nil || !strings.Contains(err.Error(), "needs headless Chromium") || !strings.Contains(err.Error(), chromium.EnvPath) {
		t.Errorf("exit %d, err %v", code, err)
	}
	t.Setenv(chromium.EnvPath, "")
	t.Setenv("PATH", t.TempDir())
	_, _, err = runCLIErr(t, "report", dir, "--pdf")
	if err == nil || !strings.Contains(err.Error(), "apt-get install chromium") {
		t.Errorf("no chromium on PATH: err %v, want what to install", err)
	}
}

// outputDirCmd is build/test-output/<test> at the top of the module.
func outputDirCmd(t *testing.T) string {
	t.Helper()
	out := filepath.Join("..", "..", "build", "test-output", t.Name())
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(out)
	return abs
}
