// Package stack deploys, inspects and removes the IRIS stack the harness
// certifies: the seed's four objects (PVC, CPF merge ConfigMap, Deployment,
// LoadBalancer Service), embedded in the binary and applied server-side.
package stack

import (
	"embed"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/irischaos/irischaos/pkg/stackid"
)

//go:embed manifests/*.yaml
var manifestFS embed.FS

// The stack's names and labels are in pkg/stackid.
const (
	FieldManager = "irischaos"
	// StandInAnnotation on a StorageClass (or an image's pod) says it stands
	// in for the real thing; its value says for what.
	StandInAnnotation = "irischaos.io/stand-in"
)

// Defaults for Options' zero values.
const (
	DefaultImage        = "containers.intersystems.com/intersystems/iris-community:2025.1"
	DefaultStorageClass = "longhorn"
	DefaultSize         = "10Gi"
	DefaultGracePeriod  = 60 * time.Second
	DefaultTimeout      = 10 * time.Minute
)

// The license key as the IRIS container gets it: LicenseKeyFile of the
// Secret Options.LicenseKeySecret, mounted read-only at LicenseKeyDir and
// passed to iris-main's --key (which copies it into the instance's mgr
// directory at every start).
const (
	LicenseKeyFile = "iris.key"
	LicenseKeyDir  = "/irislicense"
	licenseVolume  = "iris-license"
)

// Objects are the stack's objects as they will be applied.
type Objects struct {
	PVC        *corev1ac.PersistentVolumeClaimApplyConfiguration
	ConfigMap  *corev1ac.ConfigMapApplyConfiguration
	Deployment *appsac.DeploymentApplyConfiguration
	Service    *corev1ac.ServiceApplyConfiguration
}

func decode(name string, into any) error {
	b, err := manifestFS.ReadFile("manifests/" + name)
	if err != nil {
		return fmt.Errorf("embedded manifest %s: %w", name, err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		return fmt.Errorf("embedded manifest %s: %w", name, err)
	}
	return nil
}

// Render returns the stack's objects for o: the embedded manifests with the
// namespace, image, storage class, size, grace period, tolerations and CPF
// additions of o. It needs no cluster.
func Render(o Options) (*Objects, error) {
	o.defaults()
	if _, err := resource.ParseQuantity(o.Size); err != nil {
		return nil, fmt.Errorf("volume size %q: %w", o.Size, err)
	}
	var objs Objects
	objs.PVC = &corev1ac.PersistentVolumeClaimApplyConfiguration{}
	objs.ConfigMap = &corev1ac.ConfigMapApplyConfiguration{}
	objs.Deployment = &appsac.DeploymentApplyConfiguration{}
	objs.Service = &corev1ac.ServiceApplyConfiguration{}
	for name, into := range map[string]any{
		"pvc.yaml": objs.PVC, "configmap.yaml": objs.ConfigMap,
		"deployment.yaml": objs.Deployment, "service.yaml": objs.Service,
	} {
		if err := decode(name, into); err != nil {
			return nil, err
		}
	}
	objs.PVC.WithNamespace(o.Namespace)
	objs.ConfigMap.WithNamespace(o.Namespace)
	objs.Deployment.WithNamespace(o.Namespace)
	objs.Service.WithNamespace(o.Namespace)

	objs.PVC.Spec.WithStorageClassName(o.StorageClass)
	objs.PVC.Spec.Resources.WithRequests(corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(o.Size)})

	if extra := strings.TrimSpace(o.MergeCPF); extra != "" {
		objs.ConfigMap.Data["merge.cpf"] = strings.TrimRight(objs.ConfigMap.Data["merge.cpf"], "\n") + "\n" + extra + "\n"
	}

	pod := objs.Deployment.Spec.Template.Spec
	pod.WithTerminationGracePeriodSeconds(int64(o.GracePeriod / time.Second))
	c := &pod.Containers[0]
	c.WithImage(o.Image)
	if o.ImagePullPolicy != "" {
		c.WithImagePullPolicy(o.ImagePullPolicy)
	}
	for _, n := range o.ImagePullSecrets {
		pod.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(n))
	}
	if o.LicenseKeySecret != "" {
		pod.WithVolumes(corev1ac.Volume().WithName(licenseVolume).WithSecret(corev1ac.SecretVolumeSource().
			WithSecretName(o.LicenseKeySecret).WithItems(corev1ac.KeyToPath().WithKey(LicenseKeyFile).WithPath(LicenseKeyFile))))
		c.WithVolumeMounts(corev1ac.VolumeMount().WithName(licenseVolume).WithMountPath(LicenseKeyDir).WithReadOnly(true))
		c.WithArgs("--key", LicenseKeyDir+"/"+LicenseKeyFile)
	}
	if o.Instance != stackid.Instance {
		// The manifest's probes name the seed's instance.
		for _, p := range []*corev1ac.ProbeApplyConfiguration{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p != nil && p.Exec != nil {
				for i, a := range p.Exec.Command {
					p.Exec.Command[i] = strings.ReplaceAll(a, "iris qlist "+stackid.Instance+" ", "iris qlist "+o.Instance+" ")
				}
			}
		}
	}
	if o.NodeLossTolerationSeconds != nil {
		// The seed's commented-out tolerations: evict from a lost node after
		// this many seconds instead of the default 300.
		for _, key := range []string{corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady} {
			pod.WithTolerations(corev1ac.Toleration().WithKey(key).WithOperator(corev1.TolerationOpExists).
				WithEffect(corev1.TaintEffectNoExecute).WithTolerationSeconds(*o.NodeLossTolerationSeconds))
		}
	}
	return &objs, nil
}
