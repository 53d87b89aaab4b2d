package loadgen

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/deskport/deskport/signaling"
)

// Failover is what one host's fail-over measured, from the moment t0 its instance went away.
type Failover struct {
	Host int
	// URL is the index of the instance it registered at again.
	URL int
	// Registered is from t0 to the host's new registered message; Reachable from t0 to the
	// end of the first viewer session, through the probe instance, that the host answered.
	Registered, Reachable time.Duration
	// Probes counts the sessions tried until one completed.
	Probes int
	Err    error
}

// MeasureFailover waits, for each host in which, until it has registered again after t0, then
// opens viewer sessions with it through URL probe until one completes (a session the
// rendezvous refuses because the host is not, or not yet, online there is retried every
// 20 ms), all hosts at once, at most 64 sessions in flight. It returns when every host is
// reachable or ctx ends (those left carry ctx's error).
func MeasureFailover(ctx context.Context, h *Hosts, v *Viewers, which []int, probe int, t0 time.Time) []Failover {
	out := make([]Failover, len(which))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for k, i := range which {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := Failover{Host: i}
			defer func() { out[k] = f }()
			u, err := h.WaitRegistered(ctx, i, t0)
			if err != nil {
				f.Err = err
				return
			}
			at, _ := h.Registered(i)
			f.URL, f.Registered = u, at.Sub(t0)
			for {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					f.Err = ctx.Err()
					return
				}
				s := v.Open(ctx, probe, h.ID(i))
				<-sem
				f.Probes++
				if s.Err == nil {
					f.Reachable = time.Since(t0)
					return
				}
				var re *RefusedError
				if !errors.As(s.Err, &re) || (re.Code != signaling.CodeHostOffline && re.Code != signaling.CodeUnknownHost) {
					f.Err = s.Err
					return
				}
				t := time.NewTimer(20 * time.Millisecond)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					f.Err = ctx.Err()
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}
