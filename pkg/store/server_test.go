package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// What Open checks of the server (server.go).

// logBuffer is a logger whose output a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func openWith(t *testing.T, opt store.Options) (*store.Store, error) {
	t.Helper()
	if opt.Prefix == "" {
		opt.Prefix = storetest.Prefix(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := store.Open(ctx, opt)
	if err == nil {
		t.Cleanup(s.Close)
	}
	return s, err
}

// enterpriseProxy is a proxy in front of the single test node that refuses what the proxies of
// managed and enterprise Redis refuse: scripts over two slots, CLUSTER, CLIENT SETNAME.
func enterpriseProxy(t *testing.T) *redistest.Proxy {
	t.Helper()
	u, err := url.Parse(storetest.Single(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	return redistest.NewProxy(t, u.Host, redistest.ProxyOptions{CrossSlot: true, Cluster: true, SetName: true})
}

// TestModeBehindAProxy: behind a proxy that hides its cluster, redis.mode auto finds that a
// script may not touch two hash slots and queues messages in two steps: a message is sent,
// queued and read back, notifications arrive (the subscriber's connection goes nameless with a
// warning), and nothing but the start's probe is refused. redis.mode single refuses to start
// there, with one line that says why.
func TestModeBehindAProxy(t *testing.T) {
	t.Parallel()
	proxy := enterpriseProxy(t)
	var log logBuffer
	s, err := openWith(t, store.Options{URL: proxy.URL(), Partitions: 2, Logger: log.logger()})
	if err != nil {
		t.Fatalf("open behind the proxy: %v", err)
	}
	if s.ScriptsSpanSlots() {
		t.Fatal("behind a proxy that refuses cross-slot scripts, the store still sends them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := s.CreateSession(ctx, "proxied")
	if err != nil {
		t.Fatal(err)
	}
	notified := make(chan chat.Notification, 8)
	sub := s.NewSubscriber(store.SubscriberOptions{Logger: log.logger(), OnNotify: func(_ string, n chat.Notification) { notified <- n }})
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Run(subCtx) }()
	defer func() {
		stopSub()
		<-subDone
	}()
	select {
	case <-sub.Subscribe(sess.Token):
	case <-ctx.Done():
		t.Fatal("the subscriber never subscribed behind the proxy")
	}
	if !sub.Connected() {
		t.Error("subscribed, but not Connected")
	}
	sent, err := s.Send(ctx, sess.Token, human("through the proxy"), store.SendLimits{MaxPending: 4, MessagesPerMinute: 10})
	if err != nil {
		t.Fatalf("send behind the proxy: %v", err)
	}
	select {
	case n := <-notified:
		if n.Type != chat.FrameAck || n.ID != sent.Offset {
			t.Errorf("notification %+v, want the ack at %s", n, sent.Offset)
		}
	case <-ctx.Done():
		t.Fatal("no notification behind the proxy")
	}
	p := store.Partition(sess.Token, 2)
	if err := s.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadRequests(ctx, p, "c", 10, 0)
	if err != nil || len(got) != 1 || got[0].Fields[chat.ReqFieldToken] != sess.Token {
		t.Fatalf("request stream behind the proxy: %+v %v", got, err)
	}
	refused := proxy.Refused()
	if refused["crossslot"] != 1 || refused["cluster"] == 0 || refused["setname"] == 0 {
		t.Errorf("the proxy refused %v: want the start's one cross-slot probe, CLUSTER and CLIENT SETNAME", refused)
	}
	for _, want := range []string{"does not let one script touch two hash slots", "refused to name the connections", "refused to name the notification connection"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}

	_, err = openWith(t, store.Options{URL: proxy.URL(), Mode: store.ModeSingle})
	if err == nil || !strings.Contains(err.Error(), "redis.mode is single") || !strings.Contains(err.Error(), "CROSSSLOT") || strings.Contains(err.Error(), "\n") {
		t.Errorf("redis.mode single behind the proxy: %v, want one line naming redis.mode single and CROSSSLOT", err)
	}
}

// TestModeChosen: a plain Redis lets a script touch any slot (auto and single), unless
// redis.mode is cluster; a Redis Cluster never does, and redis.mode single refuses it.
func TestModeChosen(t *testing.T) {
	t.Parallel()
	single, cluster := storetest.Single(t).URL, storetest.Cluster(t).URL
	for _, c := range []struct {
		url, mode string
		span      bool
		err       string
	}{
		{single, store.ModeAuto, true, ""},
		{single, store.ModeSingle, true, ""},
		{single, store.ModeCluster, false, ""},
		{cluster, store.ModeAuto, false, ""},
		{cluster, store.ModeCluster, false, ""},
		{cluster, store.ModeSingle, false, "redis.mode is single, but the server is a Redis Cluster"},
	} {
		s, err := openWith(t, store.Options{URL: c.url, Mode: c.mode})
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s, mode %s: %v, want %q", c.url, c.mode, err, c.err)
			}
		case err != nil:
			t.Errorf("%s, mode %s: %v", c.url, c.mode, err)
		case s.ScriptsSpanSlots() != c.span:
			t.Errorf("%s, mode %s: scripts span slots %v, want %v", c.url, c.mode, s.ScriptsSpanSlots(), c.span)
		}
	}
}

// TestServerVersion: a server older than 6.2 is refused at start with one line that says what
// is missing; 6.2 and newer start.
func TestServerVersion(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse(storetest.Single(t).URL)
	for version, ok := range map[string]bool{"6.0.16": false, "5.0.7": false, "6.2.0": true, "7.2.4": true, "8.0.1": true} {
		proxy := redistest.NewProxy(t, u.Host, redistest.ProxyOptions{Version: version})
		_, err := openWith(t, store.Options{URL: proxy.URL()})
		switch {
		case ok && err != nil:
			t.Errorf("Redis %s: %v", version, err)
		case !ok && (err == nil || !strings.Contains(err.Error(), "Redis "+version+", too old: chatbot needs 6.2 or newer (XAUTOCLAIM") || strings.Contains(err.Error(), "\n")):
			t.Errorf("Redis %s: %v, want one line saying it is too old and what is missing", version, err)
		}
	}
}

// TestEvictionPolicyWarned: a Redis that may evict keys is warned about at start.
func TestEvictionPolicyWarned(t *testing.T) {
	t.Parallel()
	n := redistest.NewNode(t, redistest.Options{Name: "lru", Args: []string{"--maxmemory-policy", "volatile-lru"}})
	var log logBuffer
	if _, err := openWith(t, store.Options{URL: n.URL(), Logger: log.logger()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "maxmemory-policy volatile-lru") || !strings.Contains(log.String(), "noeviction") {
		t.Errorf("no warning about volatile-lru:\n%s", log.String())
	}
	var quiet logBuffer
	if _, err := openWith(t, store.Options{URL: storetest.Single(t).URL, Logger: quiet.logger()}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(quiet.String(), "maxmemory-policy") {
		t.Errorf("warned about noeviction:\n%s", quiet.String())
	}
}

// TestPartitionsRecorded: the first process records stream.partitions; one started with another
// value refuses to start with one line, on a single node and a cluster.
func TestPartitionsRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		prefix := storetest.Prefix(t)
		if _, err := openWith(t, store.Options{URL: b.URL, Prefix: prefix, Partitions: 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := openWith(t, store.Options{URL: b.URL, Prefix: prefix, Partitions: 4}); err != nil {
			t.Fatalf("the same partitions again: %v", err)
		}
		_, err := openWith(t, store.Options{URL: b.URL, Prefix: prefix, Partitions: 8})
		if !errors.Is(err, store.ErrPartitionsDiffer) || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), "stream.partitions is 8, but this deployment's Redis records 4") {
			t.Fatalf("other partitions: %v, want one line saying 8 is not the recorded 4", err)
		}
	})
}
