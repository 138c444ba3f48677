package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/irischaos/irischaos/pkg/chromium"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
)

// pdfTimeout bounds starting Chromium and printing.
const pdfTimeout = 2 * time.Minute

// writePDF prints run's report.html (rendered afresh, timelines drawn from
// the histories in dir) to dir/report.pdf with headless Chromium: A4, the
// run's identity at the top of every page, and the cluster, the manifest's
// SHA-256 and the page number at the bottom. It returns the PDF's path.
func writePDF(ctx context.Context, dir string, run report.Run) (string, error) {
	if _, err := chromium.Find(); err != nil {
		return "", fmt.Errorf("--pdf needs headless Chromium: %w", err)
	}
	if err := rundir.DrawTimelines(dir, &run); err != nil {
		return "", err
	}
	var page bytes.Buffer
	if err := report.RenderHTML(&page, run); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "irischaos-pdf-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	html := filepath.Join(tmp, rundir.HTMLFile)
	if err := os.WriteFile(html, page.Bytes(), 0o644); err != nil {
		return "", err
	}
	url, err := chromium.FileURL(html)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	id := report.PrintIdentity{RunDir: filepath.Base(abs)}
	switch m, err := os.ReadFile(filepath.Join(dir, rundir.ManifestFile)); {
	case err == nil:
		sum := sha256.Sum256(m)
		id.ManifestSHA256 = hex.EncodeToString(sum[:])
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}

	ctx, cancel := context.WithTimeout(ctx, pdfTimeout)
	defer cancel()
	bctx, stop, err := chromium.Start(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	pdf, err := chromium.PrintPDF(bctx, url, chromium.PDF{Header: report.PrintHeader(run, id), Footer: report.PrintFooter(run, id)})
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, rundir.PDFFile)
	if err := os.WriteFile(out+".tmp", pdf, 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(out+".tmp", out)
}
