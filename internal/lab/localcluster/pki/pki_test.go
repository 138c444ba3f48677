package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
)

func TestIssueVerifies(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.Write(dir); err != nil {
		t.Fatal(err)
	}
	ca, err = LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name string
		spec Spec
		host string
		eku  x509.ExtKeyUsage
		org  string
	}{
		{"apiserver", Spec{CommonName: "kube-apiserver", DNSNames: []string{"kubernetes"}, IPs: []net.IP{net.ParseIP("10.250.0.1"), net.ParseIP("127.0.0.1")}, Usage: Server}, "10.250.0.1", x509.ExtKeyUsageServerAuth, ""},
		{"node", Spec{CommonName: "system:node:node-1", Organization: []string{"system:nodes"}, Usage: Client}, "", x509.ExtKeyUsageClientAuth, "system:nodes"},
		{"etcd", Spec{CommonName: "etcd", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: Client | Server}, "127.0.0.1", x509.ExtKeyUsageServerAuth, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ca.Issue(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
				t.Fatalf("pair does not match: %v", err)
			}
			b, _ := pem.Decode(p.CertPEM)
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.eku}}); err != nil {
				t.Errorf("verify: %v", err)
			}
			if tc.org != "" && (len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != tc.org) {
				t.Errorf("organization = %v", cert.Subject.Organization)
			}
			if tc.host == "" {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
					t.Error("client-only certificate verifies as a server")
				}
			}
		})
	}
	other, _ := NewCA("other")
	p, _ := other.Issue(Spec{CommonName: "x", Usage: Server, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	b, _ := pem.Decode(p.CertPEM)
	cert, _ := x509.ParseCertificate(b.Bytes)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("certificate of another CA verifies")
	}
}

func TestBadSpecs(t *testing.T) {
	ca, err := NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Spec{{}, {CommonName: "x"}} {
		if _, err := ca.Issue(s); err == nil {
			t.Errorf("Issue(%+v) succeeded", s)
		}
	}
	if _, err := LoadCA(t.TempDir()); err == nil {
		t.Error("LoadCA of empty dir succeeded")
	}
	priv, pub, err := NewServiceAccountKey()
	if err != nil || len(priv) == 0 || len(pub) == 0 {
		t.Errorf("service account key: %v", err)
	}
}
