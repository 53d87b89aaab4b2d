package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not one JSON object: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestRecordFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	l.Record(Event{Time: when, Type: TypeSessionStart, Session: "abc", Viewer: "SHA256:xyz", Method: "key",
		Remote: "192.0.2.1:5000", Capabilities: []string{"view_only"}})
	l.Record(Event{Type: TypeForward, Session: "abc", Target: "db:5432", BytesIn: 10, BytesOut: 20})
	l.Record(Event{Type: TypeRefused, Remote: "192.0.2.2:1", Error: "unauthorized"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	l.Record(Event{Type: TypeFile}) // after Close: ignored, no panic
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	if lines[0]["time"] != "2025-03-01T11:00:00Z" || lines[0]["viewer"] != "SHA256:xyz" || lines[0]["method"] != "key" {
		t.Fatalf("first line %v", lines[0])
	}
	if lines[1]["bytes_in"] != 10.0 || lines[1]["bytes_out"] != 20.0 || lines[1]["target"] != "db:5432" {
		t.Fatalf("second line %v", lines[1])
	}
	if _, ok := lines[1]["path"]; ok {
		t.Fatal("empty fields must be left out")
	}
	if lines[2]["error"] != "unauthorized" || lines[2]["time"] == nil {
		t.Fatalf("third line %v", lines[2])
	}
}

func TestAppendAndTighten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(`{"type":"old"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Type: TypeSessionEnd})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0]["type"] != "old" || lines[1]["type"] != TypeSessionEnd {
		t.Fatalf("lines %v", lines)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 after Open", fi.Mode().Perm())
	}
}

func TestNilLog(t *testing.T) {
	var l *Log
	l.Record(Event{Type: TypeForward})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Err() != nil {
		t.Fatal("nil log has an error")
	}
}

// A fresh machine has no ~/.config/deskport yet: Open creates the directory, private.
func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	l, err := Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatalf("Open in a missing directory: %v", err)
	}
	l.Close()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
}

func TestOpenError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(filepath.Join(file, "audit.log")); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
}

// TestConcurrent writes from many goroutines and through two Logs on the same file (as two host
// processes would) and checks that every line is whole.
func TestConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 200
	big := make([]byte, 3000)
	for i := range big {
		big[i] = 'p'
	}
	var wg sync.WaitGroup
	for w := range workers {
		l := a
		if w%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				l.Record(Event{Type: TypeFile, Path: string(big), BytesIn: int64(w)})
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(a.Close(), b.Close()); err != nil {
		t.Fatal(err)
	}
	if n := len(readLinesBig(t, path)); n != workers*each {
		t.Fatalf("%d lines, want %d", n, workers*each)
	}
}

func readLinesBig(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	start := 0
	for i, c := range data {
		if c != '\n' {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(data[start:i], &m); err != nil {
			t.Fatalf("line %d torn: %v", len(out)+1, err)
		}
		out = append(out, m)
		start = i + 1
	}
	return out
}
