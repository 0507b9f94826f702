package web

import (
	"testing"
	"time"
)

func TestIPLimiterWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newIPLimiter(2)
	l.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := l.allow("10.0.0.1"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait := l.allow("10.0.0.1")
	if ok || wait != time.Minute {
		t.Fatalf("third request: allowed=%v wait=%s, want refused for 1m", ok, wait)
	}
	if ok, _ := l.allow("10.0.0.2"); !ok {
		t.Fatal("another address shares the limit")
	}
	now = now.Add(45 * time.Second)
	if _, wait := l.allow("10.0.0.1"); wait != 15*time.Second {
		t.Fatalf("wait %s, want 15s", wait)
	}
	now = now.Add(15 * time.Second)
	if ok, _ := l.allow("10.0.0.1"); !ok {
		t.Fatal("refused after the window ended")
	}
	// Windows that ended are swept: memory follows the addresses of the last minute.
	now = now.Add(2 * time.Minute)
	l.allow("10.0.0.3")
	if len(l.seen) != 1 {
		t.Fatalf("%d windows kept, want 1", len(l.seen))
	}
}
