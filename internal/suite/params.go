// Package suite is what turns `go test ./e2e -tags chaos` into a
// certification suite for a user's own cluster, kept out of the chaos build
// tag so it is unit tested: the suite's parameters (flags, and the same names
// as environment variables for CI systems), what each feature needs from the
// target and why a target cannot give it, the record of every feature and
// assessment, the summary printed at the end and the suite's JUnit file.
package suite

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Label is the label on every object the suite creates (its namespaces, the
// copies of the secrets it is given), so a shared cluster's owner can find
// them and a later run knows a namespace as the suite's own.
const (
	Label      = "irischaos.io/e2e-suite"
	LabelValue = "irischaos"
)

// FlagPrefix starts every suite flag; EnvPrefix starts the environment
// variable of the same name (e2e-image: IRISCHAOS_E2E_IMAGE).
const (
	FlagPrefix = "e2e-"
	EnvPrefix  = "IRISCHAOS_"
)

// EnvName is the environment variable standing for flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Params are the suite's target. Empty strings and zero durations mean the
// default, which depends on the cluster (Resolve).
type Params struct {
	// Image is the IRIS image; default the stand-in on the embedded cluster,
	// else the stack's default (IRIS Community).
	Image string
	// PullSecret is a docker config JSON file, or NAMESPACE/NAME of an
	// existing kubernetes.io/dockerconfigjson Secret, copied into the suite's
	// namespace as the IRIS pod's image pull secret.
	PullSecret string
	// LicenseKey is an iris.key file, or NAMESPACE/NAME of a Secret holding
	// iris.key, copied into the suite's namespace and given to IRIS.
	LicenseKey string
	// Instance is the IRIS instance inside the image; "" the stack's
	// (stackid.Instance).
	Instance string
	// StorageClass holds the IRIS volume; default "replicated" on the
	// embedded cluster, else the stack's default.
	StorageClass string
	// Namespace: every feature runs in it when given; else each feature in
	// its own irischaos-e2e-* namespace, as before.
	Namespace string
	// UseExistingNamespace allows running in a namespace the suite did not
	// create (left as found: only the suite's objects are removed).
	UseExistingNamespace bool
	// RTOBudget and RPOBudget override every scenario's budgets (0: the
	// scenarios' own).
	RTOBudget, RPOBudget time.Duration
	// AllowVMActions lets scenarios power VMs off (--allow-vm-actions);
	// default true on the embedded cluster, false elsewhere.
	AllowVMActions bool
	// AllowNodeActions lets scenarios cut nodes off the network
	// (--allow-node-actions); default true on the embedded cluster only.
	AllowNodeActions bool
	// AWSEndpoint and AWSRegion are the cloud settings for aws:// nodes.
	AWSEndpoint, AWSRegion string
	// Scenarios is the directory of scenario files the suite runs.
	Scenarios string
	// Reports keeps the irischaos run directories and the fault ledger (CI
	// artefacts); JUnit is the suite's JUnit file.
	Reports, JUnit string

	set map[string]bool // flags given on the command line or by environment
}

// Flag names (without FlagPrefix), each stated once.
const (
	FlagImage           = "image"
	FlagPullSecret      = "image-pull-secret"
	FlagLicenseKey      = "license-key"
	FlagStorageClass    = "storage-class"
	FlagInstance        = "instance"
	FlagNamespace       = "namespace"
	FlagUseExistingNS   = "use-existing-namespace"
	FlagRTOBudget       = "rto-budget"
	FlagRPOBudget       = "rpo-budget"
	FlagAllowVMActions  = "allow-vm-actions"
	FlagAllowNodeActs   = "allow-node-actions"
	FlagAWSEndpoint     = "aws-endpoint"
	FlagAWSRegion       = "aws-region"
	FlagScenarios       = "scenarios"
	FlagReports         = "reports"
	FlagJUnit           = "junit"
	DefaultReports      = "build/e2e-reports"
	DefaultJUnit        = "build/e2e-junit.xml"
	DefaultScenarios    = "scenarios"
	EmbeddedStorageName = "replicated"
)

// Register adds the suite's flags to fs (before e2e-framework parses the
// command line). Paths are relative to the source tree's root (root).
func Register(fs *flag.FlagSet) *Params {
	p := &Params{}
	s := func(v *string, name, usage string) { fs.StringVar(v, FlagPrefix+name, "", usage) }
	s(&p.Image, FlagImage, "IRIS image (default: the stand-in on the embedded cluster, IRIS Community elsewhere)")
	s(&p.PullSecret, FlagPullSecret, "image pull secret for the IRIS image: a docker config JSON file or NAMESPACE/NAME of a Secret, copied into the suite's namespace")
	s(&p.LicenseKey, FlagLicenseKey, "IRIS license key: an iris.key file or NAMESPACE/NAME of a Secret with iris.key, copied into the suite's namespace")
	s(&p.Instance, FlagInstance, "IRIS instance inside the image (default: the stack's, iris)")
	s(&p.StorageClass, FlagStorageClass, "storage class of the IRIS volume (default: replicated on the embedded cluster, the stack's default elsewhere)")
	s(&p.Namespace, FlagNamespace, "run every feature in this namespace (default: one irischaos-e2e-* namespace per feature, created and removed by the suite)")
	fs.BoolVar(&p.UseExistingNamespace, FlagPrefix+FlagUseExistingNS, false, "allow a namespace the suite did not create; it is left as found")
	fs.DurationVar(&p.RTOBudget, FlagPrefix+FlagRTOBudget, 0, "RTO budget for every scenario (default: each scenario's own)")
	fs.DurationVar(&p.RPOBudget, FlagPrefix+FlagRPOBudget, 0, "RPO budget for every scenario (default: each scenario's own)")
	fs.BoolVar(&p.AllowVMActions, FlagPrefix+FlagAllowVMActions, false, "let scenarios power VMs off and on through the cloud API (default: true on the embedded cluster only)")
	fs.BoolVar(&p.AllowNodeActions, FlagPrefix+FlagAllowNodeActs, false, "let partition scenarios cut nodes off the network (default: true on the embedded cluster only)")
	s(&p.AWSEndpoint, FlagAWSEndpoint, "EC2 endpoint URL (default: the AWS SDK's own resolution)")
	s(&p.AWSRegion, FlagAWSRegion, "AWS region for providerIDs without a zone")
	s(&p.Scenarios, FlagScenarios, "directory of scenario files (default: the source tree's scenarios/)")
	s(&p.Reports, FlagReports, "directory for the irischaos run directories and the fault ledger, kept as CI artefacts (default: "+DefaultReports+")")
	s(&p.JUnit, FlagJUnit, "the suite's JUnit file (default: "+DefaultJUnit+")")
	return p
}

// FromEnv sets every suite flag not given on the command line from its
// environment variable (getenv, os.Getenv when nil), after fs was parsed,
// and remembers which were given either way.
func (p *Params) FromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	p.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, FlagPrefix) {
			p.set[strings.TrimPrefix(f.Name, FlagPrefix)] = true
		}
	})
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := strings.CutPrefix(f.Name, FlagPrefix)
		if !ok || p.set[name] {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			return
		}
		p.set[name] = true
	})
	return errors.Join(errs...)
}

// Given reports whether the flag name (without FlagPrefix) was given.
func (p *Params) Given(name string) bool { return p.set[name] }

// Defaults of the stack on a user's cluster, passed in so that this package
// states none of them.
type Defaults struct {
	StandinImage, Image, StorageClass string
}

// Resolve fills the defaults: on the embedded cluster today's lab (the
// stand-in image, the replicated class, VM actions allowed), elsewhere the
// stack's defaults and no VM action unless asked. Relative paths are taken
// from root (the source tree).
func (p *Params) Resolve(embedded bool, d Defaults, root string) {
	if p.Image == "" {
		p.Image = d.Image
		if embedded {
			p.Image = d.StandinImage
		}
	}
	if p.StorageClass == "" {
		p.StorageClass = d.StorageClass
		if embedded {
			p.StorageClass = EmbeddedStorageName
		}
	}
	if !p.Given(FlagAllowVMActions) {
		p.AllowVMActions = embedded
	}
	if !p.Given(FlagAllowNodeActs) {
		p.AllowNodeActions = embedded
	}
	abs := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
		if root != "" && !strings.HasPrefix(*v, "/") {
			*v = root + "/" + *v
		}
	}
	abs(&p.Reports, DefaultReports)
	abs(&p.JUnit, DefaultJUnit)
	abs(&p.Scenarios, DefaultScenarios)
}

// Lab reports whether p is today's lab as run on the embedded cluster: the
// stand-in image on the replicated class with the scenarios' own budgets.
// Lab-only checks (the stand-in measured, RPO within the journal cycle)
// hold only then.
func (p *Params) Lab(embedded bool, standinImage string) bool {
	return embedded && p.Image == standinImage && p.StorageClass == EmbeddedStorageName && p.RTOBudget == 0 && p.RPOBudget == 0
}

// SecretRef splits NAMESPACE/NAME; a value that is neither (a file path
// with more slashes or none) gives ok false.
func SecretRef(v string) (namespace, name string, ok bool) {
	ns, n, found := strings.Cut(v, "/")
	if !found || ns == "" || n == "" || strings.Contains(n, "/") || strings.HasPrefix(v, ".") {
		return "", "", false
	}
	return ns, n, true
}
