package report_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/irischaos/irischaos/internal/promtest"
	"github.com/irischaos/irischaos/pkg/chromium"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/rundir/rundirtest"
)

// startBrowser starts headless Chromium for a test. A missing Chromium fails
// the test saying what to install (IRISCHAOS_SKIP_TOOLS=1: skips).
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := chromium.Find(); err != nil {
		promtest.ToolMissing(t, fmt.Sprintf("%v (hack/deps.sh installs it; IRISCHAOS_SKIP_TOOLS=1 skips this test)", err))
	}
	parent, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	ctx, cancel, err := chromium.Start(parent)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); stop() })
	return ctx
}

// outputDir is where a test leaves what a person may want to look at
// (screenshots, PDFs): build/test-output/<test> at the top of the module.
func outputDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return t.TempDir()
		}
		dir = parent
	}
	out := filepath.Join(dir, "build", "test-output", t.Name())
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReportInBrowser opens report.html of a synthetic run in headless
// Chromium, as an auditor would: the failure-domain table, the run-wide plot
// and every iteration's timeline render; nothing is written to the console;
// and the page requests nothing but itself (self-contained, no CDN). It
// leaves a screenshot of the whole page in build/test-output.
func TestReportInBrowser(t *testing.T) {
	dir, run := rundirtest.Write(t, t.TempDir())
	page := filepath.Join(dir, rundir.HTMLFile)
	url, err := chromium.FileURL(page)
	if err != nil {
		t.Fatal(err)
	}
	ctx := startBrowser(t)

	var mu sync.Mutex
	var requests, consoleErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			consoleErrors = append(consoleErrors, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				consoleErrors = append(consoleErrors, "console."+string(e.Type))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				consoleErrors = append(consoleErrors, string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}

	// What the page shows, measured by the browser's layout.
	type shown struct {
		DomainRows    int      `json:"domainRows"`
		DomainTexts   []string `json:"domainTexts"`
		RunPlotBands  int      `json:"runPlotBands"`
		RunPlotWidth  float64  `json:"runPlotWidth"`
		Timelines     int      `json:"timelines"`
		DrawnTimeline int      `json:"drawnTimelines"`
		Images        int      `json:"images"`
		Title         string   `json:"title"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](`(() => {
		const rows = [...document.querySelectorAll('#failure-domains tr')].slice(1);
		const plot = document.querySelector('#runplot svg');
		const tls = [...document.querySelectorAll('figure.timeline svg')];
		const drawn = tls.filter(s => { const r = s.getBoundingClientRect(); return r.width > 300 && r.height > 50 && s.querySelectorAll('circle').length > 10; });
		return {
			domainRows: rows.length,
			domainTexts: rows.map(r => r.cells[0].innerText),
			runPlotBands: plot ? plot.querySelectorAll('g.band').length : 0,
			runPlotWidth: plot ? plot.getBoundingClientRect().width : 0,
			timelines: tls.length,
			drawnTimelines: drawn.length,
			images: document.images.length,
			title: document.title,
		};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	rows := report.Rows(run)
	if got.DomainRows != len(rows) {
		t.Errorf("failure-domain table shows %d rows, want %d (%v)", got.DomainRows, len(rows), got.DomainTexts)
	}
	for i, r := range rows {
		if i < len(got.DomainTexts) && got.DomainTexts[i] != r.FailureDomain {
			t.Errorf("row %d shows %q, want %q", i, got.DomainTexts[i], r.FailureDomain)
		}
	}
	// Two panels (RTO, RPO), one band per row each.
	if got.RunPlotBands != 2*len(rows) || got.RunPlotWidth < 300 {
		t.Errorf("run plot: %d bands, %.0f px wide; want %d bands", got.RunPlotBands, got.RunPlotWidth, 2*len(rows))
	}
	if got.Timelines != len(run.Iterations) || got.DrawnTimeline != len(run.Iterations) {
		t.Errorf("%d timelines in the page, %d drawn; want one per iteration (%d)", got.Timelines, got.DrawnTimeline, len(run.Iterations))
	}
	if got.Images != 0 {
		t.Errorf("%d <img> in the page, want none (drawings are inline)", got.Images)
	}
	if !strings.Contains(got.Title, run.Name) {
		t.Errorf("title %q does not name the run", got.Title)
	}

	// Screenshots (PNG): the whole page, and the run-wide plot alone.
	outDir := outputDir(t)
	for _, s := range []struct {
		name string
		shot chromedp.Action[[]byte]
	}{
		{"report.png", chromedp.FullScreenshot(100)},
		{"runplot.png", chromedp.Screenshot(chromedp.CSS("#runplot"))},
	} {
		png, err := chromedp.Run(ctx, s.shot)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(outDir, s.name)
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", out, len(png))
	}

	mu.Lock()
	defer mu.Unlock()
	for _, e := range consoleErrors {
		t.Errorf("console: %s", e)
	}
	for _, r := range requests {
		if r != url {
			t.Errorf("the page requested %s: report.html must be self-contained", r)
		}
	}
	if len(requests) == 0 {
		t.Error("saw no request at all: is the network listener working?")
	}
}
