//go:build race

package attack

// raceEnabled: this test binary runs under the race detector, whose shadow memory would swamp
// a host's RSS figures (hostproc_test.go builds a plain host binary instead).
const raceEnabled = true
