package rundir

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/report"
)

// Files that seal a run directory: they are not evidence themselves.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.json.sig" // ed25519 signature of manifest.json, raw 64 bytes
)

// Manifest lets an auditor check that a run directory is what the run
// wrote: the SHA-256 of every evidence file and what was measured.
type Manifest struct {
	Irischaos  string `json:"irischaos_version"`
	Kubernetes string `json:"kubernetes_version"`
	// ClusterUID is the kube-system namespace's UID: the cluster's identity.
	ClusterUID string `json:"cluster_uid"`
	// Scenarios: each scenario's checksum as the run used it.
	Scenarios map[string]string `json:"scenarios"`
	// Files: SHA-256 (hex) of every file in the run directory but the
	// manifest and its signature, by slash-separated relative path.
	Files map[string]string `json:"files"`
}

// WriteManifest hashes every file in dir and writes manifest.json; a
// signature left from an earlier manifest is removed (it no longer holds).
func WriteManifest(dir string, run report.Run) error {
	files, err := hashFiles(dir)
	if err != nil {
		return err
	}
	m := Manifest{Irischaos: run.Environment.Irischaos, Kubernetes: run.Environment.Kubernetes, ClusterUID: run.Environment.ClusterUID,
		Scenarios: run.Scenarios, Files: files}
	if m.Scenarios == nil {
		m.Scenarios = map[string]string{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, SignatureFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeAtomic(filepath.Join(dir, ManifestFile), append(b, '\n'))
}

func hashFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		// The PDF is printed after the seal and names the manifest's hash itself.
		if rel == ManifestFile || rel == SignatureFile || rel == PDFFile || strings.HasSuffix(rel, ".tmp") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash the files of %s: %w", dir, err)
	}
	return out, nil
}

// Sign writes manifest.json.sig: the ed25519 signature of manifest.json
// with the private key in keyPEM (PKCS #8 PEM, as `openssl genpkey
// -algorithm ed25519` writes it).
func Sign(dir string, keyPEM []byte) error {
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return errors.New("sign: the key is not PEM (make one with `openssl genpkey -algorithm ed25519 -out key.pem`)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return fmt.Errorf("sign: the key is a %T, want ed25519", k)
	}
	m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("sign: %w (write it first: irischaos report %s --write)", err, dir)
	}
	return writeAtomic(filepath.Join(dir, SignatureFile), ed25519.Sign(priv, m))
}

// Verify recomputes a run directory's manifest and re-runs the checker on
// every history. It returns what differs, one line each (empty: the
// directory is what the run wrote); the error is for what could not be
// checked at all. With pubPEM (PKIX PEM, `openssl pkey -pubout`) the
// manifest's signature must verify too.
func Verify(dir string, pubPEM []byte) ([]string, error) {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("verify: %w (is %s a run directory written by irischaos run?)", err, dir)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("verify: %s: %w", ManifestFile, err)
	}
	var diffs []string
	if pubPEM != nil {
		d, err := verifySignature(dir, mb, pubPEM)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, d...)
	}
	now, err := hashFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range sortedKeys(m.Files) {
		switch got, ok := now[p]; {
		case !ok:
			diffs = append(diffs, p+": missing")
		case got != m.Files[p]:
			diffs = append(diffs, p+": changed (SHA-256 differs from the manifest)")
		}
	}
	for _, p := range sortedKeys(now) {
		if _, ok := m.Files[p]; !ok {
			diffs = append(diffs, p+": added after the manifest was written")
		}
	}
	histories, err := Histories(dir)
	if err != nil {
		return nil, err
	}
	for _, hp := range histories {
		diffs = append(diffs, recheck(dir, hp)...)
	}
	return diffs, nil
}

// recheck runs the checker on one history and compares its result with the
// one saved next to it.
func recheck(dir, hp string) []string {
	rel, _ := filepath.Rel(dir, hp)
	rel = filepath.ToSlash(rel)
	recs, err := history.ReadFile(hp)
	if err != nil {
		return []string{rel + ": " + err.Error()}
	}
	b, err := checker.BudgetsFromMeta(recs)
	if err != nil {
		return []string{rel + ": " + err.Error()}
	}
	fresh, err := json.Marshal(checker.Check(recs, b))
	if err != nil {
		return []string{rel + ": " + err.Error()}
	}
	rp := filepath.Join(filepath.Dir(hp), ResultFile)
	saved, err := os.ReadFile(rp)
	if err != nil {
		return []string{rel + ": no saved result to compare with: " + err.Error()}
	}
	var s checker.Result
	if err := json.Unmarshal(saved, &s); err != nil {
		return []string{filepath.ToSlash(filepath.Join(filepath.Dir(rel), ResultFile)) + ": " + err.Error()}
	}
	again, _ := json.Marshal(s)
	if !bytes.Equal(again, fresh) {
		return []string{fmt.Sprintf("%s: the checker's result of this history differs from the saved %s", rel, ResultFile)}
	}
	return nil
}

func verifySignature(dir string, manifest, pubPEM []byte) ([]string, error) {
	blk, _ := pem.Decode(pubPEM)
	if blk == nil {
		return nil, errors.New("verify: the public key is not PEM (`openssl pkey -in key.pem -pubout -out key.pub`)")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("verify: the public key is a %T, want ed25519", k)
	}
	sig, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{SignatureFile + ": missing (the manifest is not signed)"}, nil
	}
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, manifest, sig) {
		return []string{ManifestFile + ": signature does not verify with the given key"}, nil
	}
	return nil, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return slices.Clip(ks)
}
