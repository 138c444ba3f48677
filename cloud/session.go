package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Session performs the VM actions of one scenario through a Registry and
// remembers which VMs it stopped, so Restore can start them again afterwards.
// VMs deleted on purpose are not brought back.
type Session struct {
	Registry *Registry
	Progress io.Writer // Restore reports here; may be nil

	mu      sync.Mutex
	stopped []string // providerIDs, in the order they were stopped
}

// NewSession returns a session over r.
func NewSession(r *Registry, progress io.Writer) *Session {
	return &Session{Registry: r, Progress: progress}
}

// Do performs a on the VM behind providerID and waits until it took effect.
func (s *Session) Do(ctx context.Context, providerID string, a Action) error {
	p, vm, err := s.Registry.For(providerID)
	if err != nil {
		return err
	}
	// Remember before acting: a power-off that times out may still land.
	if a == PowerOff || a == Deallocate {
		s.remember(providerID)
	}
	err = p.Do(ctx, vm, a)
	if err == nil && (a == PowerOn || a == Delete) {
		s.forget(providerID)
	}
	return err
}

// Stopped lists the providerIDs this session stopped and has not started again.
func (s *Session) Stopped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stopped...)
}

// Restore powers on every VM the session stopped that is not running yet
// (a VM since deleted is skipped). It tries all of them and joins the errors.
func (s *Session) Restore(ctx context.Context) error {
	var errs []error
	for _, id := range s.Stopped() {
		p, vm, err := s.Registry.For(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := p.State(ctx, vm)
		switch {
		case errors.Is(err, ErrNotFound) || st == Terminated:
			s.forget(id)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("restore %s: reading state: %w", id, err))
			continue
		case st == Running || st == Starting:
			s.forget(id)
			continue
		}
		if s.Progress != nil {
			fmt.Fprintf(s.Progress, "restoring %s (was %s): powering on\n", id, st)
		}
		if err := p.Do(ctx, vm, PowerOn); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w (start it by hand)", id, err))
			continue
		}
		s.forget(id)
	}
	return errors.Join(errs...)
}

func (s *Session) remember(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.stopped {
		if x == id {
			return
		}
	}
	s.stopped = append(s.stopped, id)
}

func (s *Session) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.stopped {
		if x == id {
			s.stopped = append(s.stopped[:i], s.stopped[i+1:]...)
			return
		}
	}
}
