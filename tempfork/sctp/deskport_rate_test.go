package sctp

import (
	"testing"
	"time"
)

// floorAssociation is a live client association with the floor on or off, idle (nothing sent),
// whose congestion state the tests set by hand under its lock.
func floorAssociation(t *testing.T, floor bool) *Association {
	t.Helper()
	client, _ := udpPair(t, Config{CwndFloorFromDeliveryRate: floor}, Config{})

	return client
}

func TestDeliveryRateSample(t *testing.T) {
	a := floorAssociation(t, true)
	a.lock.Lock()
	defer a.lock.Unlock()
	a.srtt.Store(100.0) // ms: one sample per 100 ms
	t0 := time.Now()
	a.sampleDeliveryLocked(t0, 0)
	a.sampleDeliveryLocked(t0.Add(50*time.Millisecond), 512<<10)
	if a.delivery.next != 0 {
		t.Fatal("a sample after half an RTT")
	}
	a.sampleDeliveryLocked(t0.Add(100*time.Millisecond), 512<<10)
	if a.delivery.next != 1 {
		t.Fatalf("%d samples after one RTT, want 1", a.delivery.next)
	}
	if got, want := a.delivery.samples[0], float64(1<<20)/0.1; got < want*0.99 || got > want*1.01 {
		t.Fatalf("rate %.0f B/s, want %.0f", got, want)
	}
	a.rack.rackMinRTTWnd.Push(t0, 80*time.Millisecond)
	if got, want := a.deliveredBDPLocked(t0), uint32(838860); got < want-1 || got > want+1 {
		t.Fatalf("BDP %d, want %d (rate × min RTT)", got, want)
	}
}

func TestLossThresholdFloor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		floor bool
		rate  float64 // delivered, bytes per second, at a 100 ms min RTT
		want  uint32
	}{
		{"floor off: halve", false, 10 << 20, 1 << 20},
		{"delivered a whole window: no cut", true, 20 << 20, 2 << 20},
		{"delivered more than the window: cwnd, not more", true, 80 << 20, 2 << 20},
		{"delivered 3/4 of the window: cut to it", true, 15 << 20, 3 << 19},
		{"delivered less than half: RFC 4960's half", true, 5 << 20, 1 << 20},
		{"no measurement: half", true, 0, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := floorAssociation(t, tc.floor)
			a.lock.Lock()
			defer a.lock.Unlock()
			now := time.Now()
			a.setCWND(2 << 20)
			a.delivery.samples[3] = tc.rate
			a.rack.rackMinRTTWnd.Push(now, 100*time.Millisecond)
			got := a.lossThresholdLocked(now)
			if diff := int64(got) - int64(tc.want); diff < -2 || diff > 2 {
				t.Fatalf("ssthresh after a loss %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFloorGrowsInRecovery(t *testing.T) {
	for _, floor := range []bool{false, true} {
		a := floorAssociation(t, floor)
		a.lock.Lock()
		a.setCWND(1 << 20)
		a.ssthresh = 1 << 20
		a.inFastRecovery = true
		a.pendingQueue.push(&chunkPayloadData{beginningFragment: true, endingFragment: true, userData: make([]byte, 1000)})
		a.rack.rackMinRTTWnd.Push(time.Now(), 100*time.Millisecond)
		a.srtt.Store(110.0) // ms: no queue to speak of
		a.growWithFloorLocked(1<<20, false)
		got := a.CWND()
		a.lock.Unlock()
		want := uint32(1 << 20)
		if floor {
			want += (1 << 20) / caGrowthDivisor
		}
		if got != want {
			t.Fatalf("floor %v: cwnd %d after a window acknowledged in fast recovery, want %d", floor, got, want)
		}
	}
}

func TestRTOMin(t *testing.T) {
	m := newRTOManagerMin(1000, 200)
	m.setNewRTT(150)
	if rto := m.getRTO(); rto < 200 || rto >= 1000 {
		t.Fatalf("RTO %v ms with a 200 ms minimum and a 150 ms RTT", rto)
	}
	if rto := newRTOManagerMin(1000, 0); rto.rtoMin != rtoMin {
		t.Fatalf("minimum %v without a setting, want RFC 4960's %v", rto.rtoMin, rtoMin)
	}
}

// TestFloorGrowthSlowsWithQueue: with the RTT a quarter above its minimum, congestion avoidance
// goes back to one step a window.
func TestFloorGrowthSlowsWithQueue(t *testing.T) {
	a := floorAssociation(t, true)
	a.lock.Lock()
	defer a.lock.Unlock()
	a.setCWND(1 << 20)
	a.rack.rackMinRTTWnd.Push(time.Now(), 100*time.Millisecond)
	a.srtt.Store(110.0)
	if got, want := a.caStepLocked(), uint32(1<<20)/caGrowthDivisor; got != want {
		t.Fatalf("step %d at srtt 110 ms, min 100 ms: want %d", got, want)
	}
	a.srtt.Store(150.0)
	if got, want := a.caStepLocked(), max(a.MTU(), a.cwndCAStep); got != want {
		t.Fatalf("step %d at srtt 150 ms, min 100 ms: want the plain step %d", got, want)
	}
}
