package bench

import (
	"context"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRunClosedLoop(t *testing.T) {
	t.Parallel()
	srv := newFakeServe(t, &fakeServe{})
	res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 5, Duration: 300 * time.Millisecond, Warmup: -1, Drain: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Turns == 0 || res.Turns != res.Sent || res.Latency.N != int(res.Turns) {
		t.Fatalf("turns %d, sent %d, latency samples %d: want all sent answered and measured", res.Turns, res.Sent, res.Latency.N)
	}
	if len(res.Errors) != 0 {
		t.Fatalf("errors %v, want none", res.Errors)
	}
	if res.Frames["message"] < res.Turns || res.Frames["ack"] != 0 {
		t.Fatalf("frames %v: want message frames only (no stream)", res.Frames)
	}
	if res.Ack != nil || res.FirstDelta != nil {
		t.Fatal("ack and first delta are measured only with stream")
	}
	// Closed loop with 1 in flight: never more than one per session was waiting, so the
	// turns are bounded by the time over the latency.
	if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.Max {
		t.Fatalf("latency %+v", res.Latency)
	}
}

func TestRunFixedRateStream(t *testing.T) {
	t.Parallel()
	srv := newFakeServe(t, &fakeServe{delay: 5 * time.Millisecond})
	res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 4, Rate: 200, Stream: true,
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond, Drain: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// 200/s for 0.5s: the messages due in the window are counted, not those of the warmup.
	if res.Sent < 95 || res.Sent > 105 {
		t.Fatalf("sent %d in the window, want about 100", res.Sent)
	}
	if res.Turns != res.Sent || len(res.Errors) != 0 {
		t.Fatalf("turns %d of %d, errors %v", res.Turns, res.Sent, res.Errors)
	}
	if res.Ack == nil || res.FirstDelta == nil || res.Ack.N != int(res.Sent) || res.FirstDelta.N != int(res.Sent) {
		t.Fatalf("ack %+v first delta %+v: want one sample per message", res.Ack, res.FirstDelta)
	}
	// Every delta's delivery is measured from the time in its offset; the fake writes it just
	// before sending it.
	if res.DeltaDelivery == nil || res.DeltaDelivery.N != int(res.Sent) || res.DeltaDelivery.Max > 1000 {
		t.Fatalf("delta delivery %+v", res.DeltaDelivery)
	}
	// The fake model takes 5ms: the reply cannot come sooner, the ack does.
	if res.Latency.P50 < 5 || res.FirstDelta.P50 < 5 || res.Ack.P50 >= res.Latency.P50 {
		t.Fatalf("reply %+v, first delta %+v, ack %+v", res.Latency, *res.FirstDelta, *res.Ack)
	}
}

func TestRunCountsRefusedMessages(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			t.Parallel()
			srv := newFakeServe(t, &fakeServe{refuseEvery: 3})
			res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 3, Rate: 300, Stream: stream,
				Duration: 400 * time.Millisecond, Warmup: -1, Drain: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			refused := res.Errors["rate_limited"]
			if refused == 0 || res.Errors["unexpected_reply"] != 0 || res.Errors["no_reply"] != 0 {
				t.Fatalf("errors %v: want rate_limited counted, every other message matched to its reply", res.Errors)
			}
			if res.Turns+refused != res.Sent {
				t.Fatalf("turns %d + refused %d != sent %d", res.Turns, refused, res.Sent)
			}
		})
	}
}

func TestRunCountsMissingReplies(t *testing.T) {
	t.Parallel()
	srv := newFakeServe(t, &fakeServe{silent: true})
	res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 2, Rate: 100,
		Duration: 200 * time.Millisecond, Warmup: -1, Drain: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Turns != 0 || res.Errors["no_reply"] < res.Sent || res.Sent == 0 {
		t.Fatalf("turns %d, sent %d, errors %v: want every message counted as no_reply", res.Turns, res.Sent, res.Errors)
	}
}

// A session starved for the whole window shows, though it gives no latency sample: as a
// session with no reply, and its message as unanswered at the end.
func TestRunCountsStarvedSessions(t *testing.T) {
	t.Parallel()
	srv := newFakeServe(t, &fakeServe{starve: "tok1"})
	res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 3, Pipeline: 1,
		Duration: 300 * time.Millisecond, Warmup: -1, Drain: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.NoReply != 1 || res.Unanswered != 1 || res.SessionWorst.N != 2 || res.Turns == 0 {
		t.Fatalf("no reply %d, unanswered %d, worst %+v, turns %d: want the starved session counted", res.NoReply, res.Unanswered, res.SessionWorst, res.Turns)
	}
	var out strings.Builder
	res.Print(&out)
	if !strings.Contains(out.String(), "1 of 3 sessions got no reply in the window; 1 messages unanswered at the end") {
		t.Fatalf("report:\n%s", out.String())
	}
}

// --stagger spreads the sessions' first messages evenly over its time, in the sessions' order
// (without it they all go at once, and the sessions stay in step).
func TestRunStaggersTheFirstMessages(t *testing.T) {
	t.Parallel()
	f := &fakeServe{}
	srv := newFakeServe(t, f)
	const stagger = 400 * time.Millisecond
	res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 4, Stagger: stagger,
		Warmup: 500 * time.Millisecond, Duration: 200 * time.Millisecond, Drain: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Turns == 0 || res.StaggerSec != stagger.Seconds() {
		t.Fatalf("turns %d, stagger %v s", res.Turns, res.StaggerSec)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// One session starts every stagger/4.
	at := slices.SortedFunc(maps.Values(f.firsts), time.Time.Compare)
	if len(at) != 4 {
		t.Fatalf("%d sessions sent, want 4", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < stagger/4-20*time.Millisecond || gap > stagger/4+80*time.Millisecond {
			t.Errorf("first messages %d and %d came %v apart, want about %v", i-1, i, gap, stagger/4)
		}
	}
	var out strings.Builder
	res.Print(&out)
	if !strings.Contains(out.String(), "closed loop, 1 in flight per session, first messages spread over 0.4s") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestRunRefusesBadStagger(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Stagger: -time.Second}, "--stagger: must be 0"},
		{Options{Stagger: time.Second, Rate: 10, Warmup: 2 * time.Second}, "--stagger: closed loop only"},
		{Options{Stagger: 3 * time.Second, Warmup: 2 * time.Second}, "--stagger 3s: longer than --warmup 2s"},
	} {
		c.o.URL = "http://127.0.0.1:1"
		if _, err := Run(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

func TestRunFailsWithoutServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = Run(context.Background(), Options{URL: "http://" + addr, Sessions: 2, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "no session could be created") || !strings.Contains(err.Error(), "token_dial_refused 2") {
		t.Fatalf("err %v: want no session, with the failures counted", err)
	}
}

func TestRunRefusesRemoteURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://192.0.2.1:8080", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:8080"} {
		if _, err := Run(context.Background(), Options{URL: u}); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
	if _, err := Run(context.Background(), Options{URL: "http://127.0.0.1:1", Duration: 2 * time.Hour}); err == nil || !strings.Contains(err.Error(), "limited") {
		t.Errorf("a 2h run: %v", err)
	}
}

func TestSocketsSpreadOverSourceAddresses(t *testing.T) {
	t.Parallel()
	f := &fakeServe{}
	srv := newFakeServe(t, f)
	res, err := Run(context.Background(), Options{URL: srv.URL, Sessions: 6, SourceAddrs: 3,
		Duration: 100 * time.Millisecond, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.SourceAddrs != 3 {
		t.Fatalf("source addrs %d", res.SourceAddrs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		if f.remotes[ip] != 2 {
			t.Fatalf("sockets by source address %v: want 2 from each of 127.0.0.1-3", f.remotes)
		}
	}
}

func TestSourcesNeeded(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, ports, want int }{
		{10, 28232, 1}, {14116, 28232, 1}, {14117, 28232, 2}, {19000, 28232, 2}, {100000, 28232, 8}, {1 << 30, 100, 254},
	} {
		if got := sourcesNeeded(c.n, c.ports); got != c.want {
			t.Errorf("sourcesNeeded(%d, %d) = %d, want %d", c.n, c.ports, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := summarize(s)
	want := Summary{N: 100, Mean: 50.5, P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("summarize 1..100ms = %+v, want %+v", got, want)
	}
	if one := summarize([]time.Duration{3 * time.Millisecond}); one.P50 != 3 || one.P99 != 3 || one.Max != 3 {
		t.Fatalf("one sample: %+v", one)
	}
	if (summarize(nil) != Summary{}) {
		t.Fatal("no samples: want zero")
	}
}

func TestRunIdle(t *testing.T) {
	t.Parallel()
	f := &fakeServe{}
	srv := newFakeServe(t, f)
	// The test process plays the serve's process: its RSS, and its connections to a "Redis".
	redis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close()
	for range 3 {
		c, err := net.Dial("tcp", redis.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	res, err := RunIdle(context.Background(), Options{URL: srv.URL, Idle: 30, IdleBase: 5, SocketsPerSession: 2,
		IdleHold: 50 * time.Millisecond, ServePID: os.Getpid(), RedisAddrs: []string{redis.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Opened != 30 || res.Alive != 30 || res.Pongs != 30 || len(res.Failed) != 0 {
		t.Fatalf("opened %d alive %d pongs %d failed %v: want all 30", res.Opened, res.Alive, res.Pongs, res.Failed)
	}
	if f.tokens.Load() != 15 {
		t.Fatalf("%d sessions created, want 15 (2 sockets each)", f.tokens.Load())
	}
	if res.Base.Sockets != 5 || res.Full.Sockets != 30 || res.Base.ServeOpen != 5 {
		t.Fatalf("samples %+v / %+v", res.Base, res.Full)
	}
	if res.Base.RSS <= 0 || res.Full.RSS <= 0 || res.Base.Goroutines != 42 {
		t.Fatalf("RSS %d/%d, goroutines %d: want read from /proc and /metrics", res.Base.RSS, res.Full.RSS, res.Base.Goroutines)
	}
	if res.Base.RedisConns != 3 || res.Full.RedisConns != 3 {
		b, _ := os.ReadFile("/proc/self/net/tcp")
		t.Logf("port %s\n%s", redis.Addr(), b)
		t.Fatalf("redis conns %d/%d, want the 3 dialed", res.Base.RedisConns, res.Full.RedisConns)
	}
	if res.HeapPerSocket != -1 {
		t.Fatalf("heap per socket %v: want -1 (the fake has no heap metric)", res.HeapPerSocket)
	}
}

func TestIdleCountsClosedSockets(t *testing.T) {
	t.Parallel()
	f := &fakeServe{}
	srv := newFakeServe(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *IdleResult, 1)
	go func() {
		res, err := RunIdle(ctx, Options{URL: srv.URL, Idle: 20, IdleBase: 2, IdleHold: time.Minute})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// Once all 20 are open, the server goes away: every socket is lost, and the run,
	// cancelled, reports it.
	deadline := time.Now().Add(10 * time.Second)
	for f.open.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatal("sockets not open in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	f.dropAll()
	for f.open.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("sockets not closed in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	res := <-done
	if res == nil {
		return
	}
	if res.Opened != 20 || res.Pongs != 0 {
		t.Fatalf("opened %d pongs %d: want 20 opened, none answering", res.Opened, res.Pongs)
	}
	lost := int64(0)
	for _, n := range res.Failed {
		lost += n
	}
	if lost != 20 {
		t.Fatalf("failed %v: want the 20 lost sockets counted", res.Failed)
	}
}
