package rundir

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/report"
)

func TestManifestVerify(t *testing.T) {
	dir, _ := Create(t.TempDir(), "local", t0)
	recs := hist(0, 6)
	writeHistory(t, dir, "pod", 1, recs)
	it := report.Iteration{Scenario: "pod", Iteration: 1, History: "pod/1/" + HistoryFile, Result: checker.Check(recs, budgets)}
	if err := WriteIterationResult(dir, it); err != nil {
		t.Fatal(err)
	}
	run := report.Run{Name: "local", Iterations: []report.Iteration{it}, Scenarios: map[string]string{"pod": "abc"},
		Environment: report.Environment{Irischaos: "v1", Kubernetes: "v1.36.3", ClusterUID: "uid-1"}}
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), true)
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	if d, err := Verify(dir, nil); err != nil || len(d) != 0 {
		t.Fatalf("fresh run: %v %q", err, d)
	}
	mb, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	for _, want := range []string{`"cluster_uid": "uid-1"`, `"pod": "abc"`, `"pod/1/history.jsonl"`, `"result.json"`, `"kubernetes_version": "v1.36.3"`} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("manifest lacks %s:\n%s", want, mb)
		}
	}

	// Signed with a user key, verified by the same command.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := x509.MarshalPKCS8PrivateKey(priv)
	pp, _ := x509.MarshalPKIXPublicKey(pub)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pp})
	if err := Sign(dir, privPEM); err != nil {
		t.Fatal(err)
	}
	if d, err := Verify(dir, pubPEM); err != nil || len(d) != 0 {
		t.Fatalf("signed run: %v %q", err, d)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	op, _ := x509.MarshalPKIXPublicKey(otherPub)
	if d, _ := Verify(dir, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: op})); len(d) != 1 || !strings.Contains(d[0], "signature does not verify") {
		t.Errorf("another key: %q", d)
	}

	// An edited history: its hash and its checker result both say so.
	hp := HistoryPath(dir, "pod", 1)
	h, _ := os.ReadFile(hp)
	lines := strings.Split(strings.TrimSpace(string(h)), "\n")
	edited := strings.Join(lines[:len(lines)-1], "\n") + "\n" // the read-back removed
	if err := os.WriteFile(hp, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, TableFile))
	d, err := Verify(dir, pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(d, "\n")
	for _, want := range []string{"pod/1/history.jsonl: changed", "report.txt: missing", "extra.txt: added", "pod/1/history.jsonl: the checker's result"} {
		if !strings.Contains(got, want) {
			t.Errorf("differences lack %q:\n%s", want, got)
		}
	}
	if _, err := Verify(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "run directory") {
		t.Errorf("no manifest: %v", err)
	}
	if err := Sign(dir, []byte("not a key")); err == nil {
		t.Error("signing with garbage worked")
	}
}
