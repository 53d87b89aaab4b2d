package files

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgressBar(&buf, 0, "big.bin")
	p(0, 10<<20)
	p(5<<20, 10<<20)
	p(10<<20, 10<<20)
	if out := buf.String(); !strings.Contains(out, "big.bin") || !strings.Contains(out, "10 MB") || !strings.Contains(out, "B/s") {
		t.Fatalf("bar output %q", out)
	}
}
