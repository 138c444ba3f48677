package stack

import (
	"slices"
	"testing"
	"time"
)

// Crash recovery on a slow volume must not be killed by the liveness probe:
// a startupProbe with the liveness command holds it off for minutes.
func TestStartupProbeHoldsLivenessOff(t *testing.T) {
	objs, err := Render(Options{Namespace: "db", Image: "example/iris:1", StorageClass: "replicated", Size: "1Gi", GracePeriod: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := objs.Deployment.Spec.Template.Spec.Containers[0]
	sp, lp := c.StartupProbe, c.LivenessProbe
	if sp == nil || sp.Exec == nil || lp == nil || lp.Exec == nil {
		t.Fatalf("startup probe %+v, liveness probe %+v", sp, lp)
	}
	if !slices.Equal(sp.Exec.Command, lp.Exec.Command) {
		t.Errorf("startup probe runs %q, liveness %q: they must test the same thing", sp.Exec.Command, lp.Exec.Command)
	}
	if budget := time.Duration(*sp.PeriodSeconds**sp.FailureThreshold) * time.Second; budget < 5*time.Minute {
		t.Errorf("startup budget %s: crash recovery on a slow volume needs minutes", budget)
	}
}
