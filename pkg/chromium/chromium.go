// Package chromium drives a headless Chromium (Debian's chromium) over the
// DevTools protocol with chromedp: it finds the binary, starts it with a
// throw-away profile and nothing that phones home, and prints a local page to
// PDF. `irischaos report --pdf` prints report.html with it; the report tests
// open report.html with it as a reader would.
package chromium

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/chromedp/chromedp"
)

// EnvPath names the Chromium binary when it is not on PATH as one of Names.
const EnvPath = "IRISCHAOS_CHROMIUM"

// Names are the binaries Find looks for on PATH, in order.
var Names = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// ErrNotFound: no Chromium on this machine.
var ErrNotFound = errors.New("no Chromium found")

// Find returns the Chromium to run: $IRISCHAOS_CHROMIUM, else the first of
// Names on PATH. Its error says what to install.
func Find() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%w: $%s=%s: %v", ErrNotFound, EnvPath, p, err)
		}
		return p, nil
	}
	for _, n := range Names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked for %s on PATH): install Chromium (Debian/Ubuntu: apt-get install chromium) or set %s to a Chrome or Chromium binary",
		ErrNotFound, strings.Join(Names, ", "), EnvPath)
}

// Flags are the command line Start gives the browser: headless, no sandbox
// (it runs as root in CI), no GPU, and nothing running in the background
// that would reach the network (QUIC, component updates, sync, first-run).
func Flags(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(userDataDir),
	}
}

// Start starts a headless Chromium with a fresh profile and returns a
// chromedp context of one tab in it. cancel stops the browser and removes
// the profile. opts are added to the tab's context (e.g. chromedp.WithLogf).
func Start(parent context.Context, opts ...chromedp.ContextOption) (ctx context.Context, cancel context.CancelFunc, err error) {
	bin, err := Find()
	if err != nil {
		return nil, nil, err
	}
	profile, err := os.MkdirTemp("", "irischaos-chromium-")
	if err != nil {
		return nil, nil, fmt.Errorf("chromium profile: %w", err)
	}
	actx, acancel := chromedp.NewExecAllocator(parent, append(Flags(profile), chromedp.ExecPath(bin))...)
	tctx, tcancel := chromedp.NewContext(actx, opts...)
	cancel = func() {
		tcancel()
		acancel()
		_ = os.RemoveAll(profile)
	}
	// Start the browser now, so a browser that cannot start says so here.
	if err := chromedp.Do(tctx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return tctx, cancel, nil
}

// FileURL is the file:// URL of a local path.
func FileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// PDF is how PrintPDF prints: A4 portrait, backgrounds, and a header and
// footer on every page (HTML templates in which the browser fills the
// elements of class pageNumber, totalPages, date, title and url).
type PDF struct {
	Header, Footer string
}

// PrintPDF opens the page at url in the tab of ctx (see Start), waits for it
// to load, and prints it to PDF.
func PrintPDF(ctx context.Context, url string, o PDF) ([]byte, error) {
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return nil, fmt.Errorf("open %s: %w", url, err)
	}
	opts := []chromedp.PDFOption{
		chromedp.PDFPaper(chromedp.PaperA4),
		chromedp.PDFPrintBackground(),
	}
	if o.Header != "" || o.Footer != "" {
		empty := `<span></span>` // the browser's own header/footer otherwise
		h, f := o.Header, o.Footer
		if h == "" {
			h = empty
		}
		if f == "" {
			f = empty
		}
		opts = append(opts, chromedp.PDFMargin(0.6), chromedp.PDFHeaderTemplate(h), chromedp.PDFFooterTemplate(f))
	}
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(opts...))
	if err != nil {
		return nil, fmt.Errorf("print %s to PDF: %w", url, err)
	}
	return pdf, nil
}
