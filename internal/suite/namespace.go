package suite

import "fmt"

// Ownership is what the suite may do with a namespace it is to run in.
type Ownership int

// Ownerships.
const (
	// Create: missing; the suite creates it (labelled Label) and removes it.
	Create Ownership = iota
	// Own: the suite's from an earlier run; it is removed at the end.
	Own
	// Borrow: not the suite's, allowed by -e2e-use-existing-namespace; left
	// as found (only the suite's own objects in it are removed).
	Borrow
)

// DefaultNamespacePrefix starts the namespaces the suite names itself.
const DefaultNamespacePrefix = "irischaos-e2e-"

// Namespace decides whether the suite may run in namespace name, given its
// labels (exists false: it does not exist). A namespace labelled Label is
// the suite's; so is one it names itself (DefaultNamespacePrefix) that
// irischaos manages (managedBy: the stack's managed-by label and value
// matched), or any of its own names on the embedded cluster: earlier
// versions did not label them. Any other only with useExisting.
func Namespace(name string, exists bool, labels map[string]string, managedBy, embedded, useExisting bool) (Ownership, error) {
	own := len(name) > len(DefaultNamespacePrefix) && name[:len(DefaultNamespacePrefix)] == DefaultNamespacePrefix
	switch {
	case !exists:
		return Create, nil
	case labels[Label] == LabelValue, own && (managedBy || embedded):
		return Own, nil
	case useExisting:
		return Borrow, nil
	}
	return 0, fmt.Errorf("namespace %s exists and the suite did not create it (no label %s=%s): pass -%s%s to run in it (it is then left as found; only the suite's objects are removed)",
		name, Label, LabelValue, FlagPrefix, FlagUseExistingNS)
}
