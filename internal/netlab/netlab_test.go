package netlab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	buildOnce sync.Once
	bins      Binaries
	buildErr  error
)

// build compiles the real binaries once for the package.
func build(t *testing.T) Binaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natlab-bin")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/deskport/deskport/cmd/host",
			"github.com/deskport/deskport/cmd/viewer", "github.com/deskport/deskport/cmd/rendezvous")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: string(out)}
			return
		}
		bins = Binaries{Rendezvous: filepath.Join(dir, "rendezvous"), Host: filepath.Join(dir, "host"), Viewer: filepath.Join(dir, "viewer")}
	})
	if buildErr != nil {
		t.Fatalf("building the binaries: %v", buildErr)
	}
	return bins
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// Every lab stopped its programs, its STUN server and its namespace threads.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	if bins.Host != "" {
		os.RemoveAll(filepath.Dir(bins.Host))
	}
	os.Exit(code)
}

// TestNATLab connects a host and a viewer in every pair of placements and moves a file through
// `viewer forward -L`, byte-exact, reporting the time from starting the viewer to the first
// forwarded byte.
func TestNATLab(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("skipping the NAT lab: %v", err)
	}
	if testing.Short() {
		t.Skip("the NAT lab starts 16 labs of real binaries")
	}
	b := build(t)
	if rv := os.Getenv("NATLAB_RENDEZVOUS"); rv != "" {
		// Another rendezvous build (one with the TURN relay, say) against this host and viewer.
		b.Rendezvous = rv
	}
	turn := b.HasTURN()
	payload := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{5}).Read(payload)
	for _, hk := range Kinds {
		for _, vk := range Kinds {
			cell := Cell{Host: hk, Viewer: vk}
			t.Run(cell.String(), func(t *testing.T) {
				relay := cell.NeedsRelay()
				if relay && !turn {
					t.Skip("needs the built-in TURN relay (rendezvous --turn), which this rendezvous lacks")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				defer cancel()
				res, err := Run(ctx, b, cell, relay, payload, t.Logf)
				if err != nil {
					t.Fatalf("%s: %v", cell, err)
				}
				t.Logf("%s: set-up %v (viewer forward start to first forwarded byte), path %s, %d bytes byte-exact",
					cell, res.Setup.Round(time.Millisecond), res.Path, res.Bytes)
			})
		}
	}
}

// TestNATLabNoRelayExplains runs a cell that needs a relay without one: both ends must say that
// no network path was found and that a TURN relay is the fix, and the host must not call the
// viewer refused.
func TestNATLabNoRelayExplains(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("skipping the NAT lab: %v", err)
	}
	if testing.Short() {
		t.Skip("waits out a 30 s connection set-up")
	}
	// It mostly waits, so it runs beside the cells.
	t.Parallel()
	b := build(t)
	cell := Cell{Host: Symmetric, Viewer: Symmetric}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	res, err := Run(ctx, b, cell, false, []byte("x"), nil)
	if err == nil {
		t.Fatalf("%s connected without a relay (path %s); the lab's NATs are not symmetric", cell, res.Path)
	}
	for _, want := range []string{"no network path to the peer", "the peer offered host/udp, srflx/udp candidates", "start the rendezvous with --turn"} {
		if !strings.Contains(res.ViewerOutput, want) {
			t.Errorf("the viewer did not say %q:\n%s", want, res.ViewerOutput)
		}
	}
	if !strings.Contains(res.HostOutput, "no network path to the viewer") || !strings.Contains(res.HostOutput, "start the rendezvous with --turn") {
		t.Errorf("the host did not log the missing path and its fix:\n%s", res.HostOutput)
	}
	if strings.Contains(res.HostOutput, "viewer refused") {
		t.Errorf("the host called a network failure a refused viewer:\n%s", res.HostOutput)
	}
}

// TestNATLabMovingViewer changes the viewer's network mid-transfer: its interface and address
// go away and its default route moves to a second NAT with another public address, as when a
// laptop goes from Wi-Fi to a cable. The viewer restarts ICE through the rendezvous and the
// forward finishes byte-exact; the test reports the time from the address change to the first
// forwarded byte over the new path. It runs on a direct path (two port-preserving NATs) and on
// a relayed one (two symmetric NATs, through the rendezvous's TURN relay); and on the direct
// path again with the viewer keeping its address while its first router goes off the internet,
// which only the silence on the path tells (ICE's disconnected timeout).
func TestNATLabMovingViewer(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("skipping the NAT lab: %v", err)
	}
	if testing.Short() {
		t.Skip("the moving-network cells run real binaries for about 15 s each")
	}
	b := build(t)
	payload := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{7}).Read(payload)
	for _, c := range []struct {
		cell        Cell
		keepAddress bool
	}{
		{Cell{Host: PortPreserving, Viewer: PortPreserving}, false},
		{Cell{Host: Symmetric, Viewer: Symmetric}, false},
		{Cell{Host: PortPreserving, Viewer: PortPreserving}, true},
	} {
		cell := c.cell
		name := cell.String()
		if c.keepAddress {
			name += "/upstream-dies"
		}
		t.Run(name, func(t *testing.T) {
			relay := cell.NeedsRelay()
			if relay && !b.HasTURN() {
				t.Skip("needs the built-in TURN relay (rendezvous --turn), which this rendezvous lacks")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := RunMove(ctx, b, cell, relay, c.keepAddress, payload, 4<<20, t.Logf)
			if err != nil {
				t.Fatalf("%s, moving viewer: %v", cell, err)
			}
			if !strings.Contains(res.HostOutput, "the viewer restarted ICE") {
				t.Errorf("the host did not log the restart:\n%s", res.HostOutput)
			}
			t.Logf("%s, moving viewer: changed networks after %d bytes; path %s, then %s; %v from the network change to bytes over the new path; %d bytes byte-exact",
				name, res.MovedAt, res.Path, res.NewPath, res.Stall.Round(time.Millisecond), res.Bytes)
		})
	}
}
