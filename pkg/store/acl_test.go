package store_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/redis/rueidis"
)

// aclTarget is a Redis the ACL tests create a user on: the TLS node, the single node and the
// cluster of the test binary (internal/redistest).
type aclTarget struct {
	name   string
	url    string   // without credentials (the default user, who may run ACL SETUSER)
	caFile string   // for rediss://
	nodes  []string // host:port of every node (ACL users are per node)
}

// withUser is t.url with user:password in it.
func (a aclTarget) withUser(user, password string) string {
	u, err := url.Parse(a.url)
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func aclTargets(t *testing.T) []aclTarget {
	t.Helper()
	srv := redistest.TLSNode(t)
	out := []aclTarget{{name: "tls", url: srv.URL(), caFile: srv.CAFile(), nodes: []string{srv.Addr()}}}
	for _, b := range storetest.Backends(t) {
		a := aclTarget{name: b.Name, url: b.URL}
		if b.Name == "cluster" {
			a.nodes = clusterNodes(t, b.URL)
		} else {
			u, _ := url.Parse(b.URL)
			a.nodes = []string{u.Host}
		}
		out = append(out, a)
	}
	return out
}

// clusterNodes lists every node (primaries and replicas) of the cluster at rawURL.
func clusterNodes(t *testing.T, rawURL string) []string {
	t.Helper()
	s := storetest.Open(t, storetest.Backend{Name: "cluster", URL: rawURL}, store.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := s.Client().Do(ctx, s.Client().B().ClusterNodes().Build()).ToString()
	if err != nil {
		t.Fatalf("cluster nodes: %v", err)
	}
	var nodes []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 {
			addr, _, _ := strings.Cut(f[1], "@") // host:port@bus
			nodes = append(nodes, addr)
		}
	}
	if len(nodes) != 6 {
		t.Fatalf("cluster nodes: %d, want 6:\n%s", len(nodes), text)
	}
	return nodes
}

// nodeClient connects as the default user to one node, even a cluster node.
func nodeClient(t *testing.T, a aclTarget, addr string) rueidis.Client {
	t.Helper()
	opt := rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true}
	if a.caFile != "" {
		pem, err := os.ReadFile(a.caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		opt.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// createACLUser runs the exact ACL SETUSER line of SECURITY.md (store.ACLSetUser) on every
// node of a, for a user unique to this test, removed when it ends.
func createACLUser(t *testing.T, a aclTarget) (user, password string) {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	user, password = "chatbot-test-"+hex.EncodeToString(b[:4]), hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	line := strings.Fields(store.ACLSetUser(user, password))
	for _, addr := range a.nodes {
		c := nodeClient(t, a, addr)
		if err := c.Do(ctx, c.B().Arbitrary(line[0], line[1]).Args(line[2:]...).Build()).Error(); err != nil {
			t.Fatalf("%s on %s: %v", strings.Join(line[:3], " "), addr, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Do(ctx, c.B().AclDeluser().Username(user).Build())
		})
	}
	return user, password
}

// aclDenials is what the ACL LOG of every node of a says user was refused.
func aclDenials(t *testing.T, a aclTarget, user string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for _, addr := range a.nodes {
		c := nodeClient(t, a, addr)
		entries, err := c.Do(ctx, c.B().AclLog().Count(128).Build()).ToArray()
		if err != nil {
			t.Fatalf("acl log on %s: %v", addr, err)
		}
		for _, e := range entries {
			m, err := e.AsStrMap()
			if err == nil && m["username"] == user {
				out = append(out, addr+": "+m["reason"]+" "+m["object"])
			}
		}
	}
	return out
}

// TestACLUser: with a user made by the ACL SETUSER line of SECURITY.md, everything serve and
// work do runs (over TLS, on a single node and on a cluster) without one refusal in the ACL
// LOG; anything else, a key or channel outside chat:*, or a command outside the list (also
// from a script) is refused.
func TestACLUser(t *testing.T) {
	t.Parallel()
	for _, a := range aclTargets(t) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			user, password := createACLUser(t, a)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := store.Open(ctx, store.Options{URL: a.withUser(user, password), TLSCAFile: a.caFile, Prefix: storetest.Prefix(t)})
			if err != nil {
				t.Fatalf("open as the ACL user: %v", err)
			}
			defer s.Close()

			exerciseSessionFlows(t, ctx, s)
			exerciseUserFlows(t, ctx, s)
			exerciseNotifications(t, ctx, s)
			exerciseRequestStreams(t, ctx, s)
			if _, err := s.Memory(ctx); err != nil { // the web tier's memory guard
				t.Fatalf("memory: %v", err)
			}
			if denied := aclDenials(t, a, user); len(denied) > 0 {
				t.Fatalf("the project's own flows were refused by the ACL:\n%s", strings.Join(denied, "\n"))
			}

			c := s.Client()
			refused := []struct {
				what string
				cmd  rueidis.Completed
			}{
				{"a key outside chat:*", c.B().Set().Key("other:" + user).Value("x").Build()},
				{"a read outside chat:*", c.B().Get().Key("session:" + user).Build()},
				{"a command outside the list", c.B().Flushall().Build()},
				{"KEYS", c.B().Keys().Pattern("chat:*").Build()},
				{"CONFIG", c.B().ConfigGet().Parameter("requirepass").Build()},
				{"ACL", c.B().AclList().Build()},
				{"a script calling a command outside the list", c.B().Eval().Script("return redis.call('FLUSHALL')").Numkeys(0).Build()},
				{"a script touching a key outside chat:*", c.B().Eval().Script("return redis.call('SET', 'other:" + user + "', 'x')").Numkeys(0).Build()},
				{"PUBLISH outside chat:*", c.B().Publish().Channel("other:" + user).Message("x").Build()},
			}
			// Redis says NOPERM, or from a script "The user executing the script can't ...".
			denied := regexp.MustCompile(`NOPERM|user executing the script can't`)
			for _, r := range refused {
				err := c.Do(ctx, r.cmd).Error()
				if err == nil || !denied.MatchString(err.Error()) {
					t.Errorf("%s: %v, want an ACL refusal", r.what, err)
				}
			}
			// A subscription outside chat:* is refused too.
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			err = c.Receive(sctx, c.B().Subscribe().Channel("other:"+user).Build(), func(rueidis.PubSubMessage) {})
			if err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Errorf("subscribe outside chat:*: %v, want a NOPERM error", err)
			}
		})
	}
}

// TestACLWrongPassword: a wrong password or an unknown user is a startup error that names the
// address and says authentication failed, never showing the password.
func TestACLWrongPassword(t *testing.T) {
	t.Parallel()
	for _, a := range aclTargets(t) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			user, _ := createACLUser(t, a)
			for _, creds := range [][2]string{{user, "wrong-password-S3CR3T"}, {"nobody-" + user, "another-S3CR3T"}} {
				s, err := store.Open(context.Background(), store.Options{URL: a.withUser(creds[0], creds[1]), TLSCAFile: a.caFile, ConnectTimeout: 10 * time.Second})
				if err == nil {
					s.Close()
					t.Fatalf("open as %s with a wrong password succeeded", creds[0])
				}
				msg := err.Error()
				if !strings.Contains(msg, "authentication failed") || !strings.Contains(msg, a.nodes[0]) && !strings.Contains(msg, hostOf(a.url)) {
					t.Errorf("error %q: want the address and \"authentication failed\"", msg)
				}
				if strings.Contains(msg, "S3CR3T") {
					t.Errorf("error shows the password: %q", msg)
				}
			}
		})
	}
}

func hostOf(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

// TestACLCommandsCoverTheCode: every command the project's code sends (rueidis builder calls
// B().Xxx() in .go files) and every command its Lua scripts call (redis.call and redis.pcall in
// .lua files, and in any Lua still inline in Go) is in store.ACLCommands, so the ACL line
// cannot fall behind the code; and every listed command is used (or needed by the client).
func TestACLCommandsCoverTheCode(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{}
	for _, c := range store.ACLCommands {
		allowed[strings.ReplaceAll(c, "|", "")] = true
	}
	// Sent by rueidis itself, not by a builder call in our code.
	used := map[string]bool{"hello": true, "ping": true, "clusterslots": true, "clustershards": true, "asking": true,
		"evalsha": true, "eval": true, "unsubscribe": true}
	builder := regexp.MustCompile(`\.B\(\)\.([A-Z][A-Za-z]*)\(`)
	script := regexp.MustCompile(`redis\.p?call\(\s*'([A-Za-z]+)'(?:\s*,\s*'([A-Za-z-]+)')?`)
	containers := map[string]bool{"xgroup": true, "xinfo": true, "client": true, "cluster": true, "object": true, "script": true}
	var files []string
	luaFiles := 0
	for _, dir := range []string{"../../pkg", "../../cmd", "../../internal"} {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case d.IsDir():
			case strings.HasSuffix(path, ".lua"):
				files = append(files, path)
				luaFiles++
			case strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") && !strings.Contains(path, "storetest"):
				files = append(files, path)
			}
			return nil
		})
	}
	if luaFiles == 0 {
		t.Fatal("no .lua file found under pkg/: the scripts' commands went unchecked")
	}
	var missing []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{builder, script} {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				name := strings.ToLower(m[1])
				if len(m) > 2 && containers[name] {
					name += strings.ToLower(m[2])
				}
				used[name] = true
				if !allowed[name] {
					missing = append(missing, f+": "+m[1])
				}
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("commands used but not in store.ACLCommands (add them, and to SECURITY.md):\n%s", strings.Join(missing, "\n"))
	}
	for _, c := range store.ACLCommands {
		if !used[strings.ReplaceAll(c, "|", "")] {
			t.Errorf("store.ACLCommands lists %s, which no code uses: drop it", c)
		}
	}
}

// TestSecurityDocShowsACLLine: SECURITY.md shows the exact ACL SETUSER line of the code.
func TestSecurityDocShowsACLLine(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	line := store.ACLSetUser("chatbot", "<password>")
	if !strings.Contains(string(doc), line) {
		t.Fatalf("SECURITY.md does not show the ACL line of store.ACLSetUser; want:\n%s", line)
	}
}

// exerciseUserFlows runs what auth.mode jwt adds: sessions owned by a user, their limits,
// the user's index and its listing.
func exerciseUserFlows(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	sess, err := s.CreateSessionFor(ctx, "acl-user", "mine", 10)
	check("create a user's session", err)
	_, err = s.Send(ctx, sess.Token, human("hello"), store.SendLimits{MaxPending: 5, MessagesPerMinute: 5, User: "acl-user", MessagesPerMinutePerUser: 5})
	check("send as a user", err)
	_, err = s.GetSessionOf(ctx, "acl-user", sess.Token, true)
	check("read as the owner", err)
	_, err = s.IsSessionOf(ctx, "acl-user", sess.Token)
	check("check the owner", err)
	_, err = s.ListSessions(ctx, "acl-user", "", 10)
	check("list", err)
	s.Client().Do(ctx, s.Client().B().Del().Key(s.Keys().Session(sess.Token)).Build())
	list, err := s.ListSessions(ctx, "acl-user", "", 10) // prunes the vanished session (ZREM)
	check("list after the session vanished", err)
	if len(list.Sessions) != 0 {
		t.Fatalf("listed %v", list.Sessions)
	}
	sess, err = s.CreateSessionFor(ctx, "acl-user", "mine", 10)
	check("create", err)
	_, err = s.DeleteSessionOf(ctx, "acl-user", sess.Token)
	check("delete as the owner", err)
}

// exerciseNotifications subscribes to a session's notify channel through the store's
// Subscriber, as the web tier does, and waits for an event written to the session to arrive.
func exerciseNotifications(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	sess, err := s.CreateSession(ctx, "notify")
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	got := make(chan chat.Notification, 10)
	sub := s.NewSubscriber(store.SubscriberOptions{OnNotify: func(token string, n chat.Notification) {
		if token == sess.Token {
			got <- n
		}
	}})
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sub.Run(sctx) }()
	defer func() {
		stop()
		<-done
	}()
	select {
	case <-sub.Subscribe(sess.Token):
	case <-ctx.Done():
		t.Fatal("subscription never confirmed")
	}
	id, err := s.Emit(ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"})
	if err != nil {
		t.Fatalf("emit: %v", err)
	}
	select {
	case n := <-got:
		if n.ID != id || n.Type != chat.FrameDelta {
			t.Fatalf("notification %+v, want %s delta", n, id)
		}
	case <-ctx.Done():
		t.Fatal("no notification")
	}
	sub.Unsubscribe(sess.Token)
	storetest.Eventually(t, 10*time.Second, "the unsubscription", func() bool { return sub.Subscribed() == 0 })
}

// exerciseRequestStreams runs every consumer-group call the workers make on a request stream.
func exerciseRequestStreams(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	check("ensure groups", s.EnsureGroups(ctx))
	check("ensure groups again", s.EnsureGroups(ctx))
	sess, err := s.CreateSession(ctx, "work")
	check("create session", err)
	_, err = s.Send(ctx, sess.Token, human("q"), lim)
	check("send", err)
	p := store.Partition(sess.Token, s.Options().Partitions)
	// Earlier flows of this test may have queued requests on the partition too.
	got, err := s.ReadRequests(ctx, p, "c1", 100, 100*time.Millisecond)
	check("read requests", err)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if r, err := chat.DecodeRequest(got[len(got)-1].Fields); err != nil || r.Token != sess.Token {
		t.Fatalf("last request read: %+v %v, want the one just sent", r, err)
	}
	_, err = s.ReadOwnPending(ctx, p, "c1", "0", 10)
	check("read own pending", err)
	_, err = s.PendingRequests(ctx, p, 10)
	check("pending requests", err)
	kept, err := s.KeepRequests(ctx, p, "c1", ids)
	check("keep requests", err)
	if len(kept) != len(ids) {
		t.Fatalf("kept %v of %v", kept, ids)
	}
	_, err = s.HandBackRequests(ctx, p, "c1", ids, time.Hour)
	check("hand back requests", err)
	claimed, _, _, err := s.ClaimRequests(ctx, p, "c2", time.Minute, "0-0", 100)
	check("claim requests", err)
	if len(claimed) != len(ids) {
		t.Fatalf("claimed %d requests, want %d", len(claimed), len(ids))
	}
	_, err = s.RequestGroupStats(ctx, p)
	check("group stats", err)
	check("ack", s.AckRequests(ctx, p, ids...))
	_, err = s.RemoveConsumer(ctx, p, "c1")
	check("remove consumer", err)
	_, err = s.AddDeadLetter(ctx, store.DeadLetter{Partition: p, RequestID: ids[0], Fields: got[0].Fields, Error: "test"})
	check("dead letter", err)
	_, err = s.ReadDeadLetters(ctx, 10)
	check("read dead letters", err)
}

// TestACLMissingRight: a user without a right Open needs (here PING) gets a startup error that
// says the ACL refused it and where the line to use is.
func TestACLMissingRight(t *testing.T) {
	t.Parallel()
	srv := redistest.TLSNode(t)
	a := aclTarget{name: "tls", url: srv.URL(), caFile: srv.CAFile(), nodes: []string{srv.Addr()}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := nodeClient(t, a, srv.Addr())
	if err := c.Do(ctx, c.B().AclSetuser().Username("lacking").Rule("reset", "on", ">pw", store.ACLKeys, "+hello").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Options{URL: a.withUser("lacking", "pw"), TLSCAFile: a.caFile})
	if err == nil {
		s.Close()
		t.Fatal("open succeeded for a user who may not run PING")
	}
	for _, want := range []string{srv.Addr(), "refused by the Redis ACL", "SECURITY.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestACLPasswordWithReservedCharacters: a password with / ? # @ % : works once
// percent-encoded in redis.url; written raw, it is refused with a message that says what to
// encode and shows no part of it.
func TestACLPasswordWithReservedCharacters(t *testing.T) {
	t.Parallel()
	srv := redistest.TLSNode(t)
	a := aclTarget{name: "tls", url: srv.URL(), caFile: srv.CAFile(), nodes: []string{srv.Addr()}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const password = "12/PART1?PART2#PART3@PART4%PART5:PART6"
	c := nodeClient(t, a, srv.Addr())
	line := strings.Fields(store.ACLSetUser("chatbot", password))
	if err := c.Do(ctx, c.B().Arbitrary(line[0], line[1]).Args(line[2:]...).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Options{URL: a.withUser("chatbot", password), TLSCAFile: a.caFile})
	if err != nil {
		t.Fatalf("open with the percent-encoded password: %v", err)
	}
	s.Close()

	raw := "rediss://chatbot:" + password + "@" + srv.Addr() + "/0"
	s, err = store.Open(ctx, store.Options{URL: raw, TLSCAFile: a.caFile})
	if err == nil {
		s.Close()
		t.Fatal("open with an unencoded password succeeded")
	}
	if !strings.Contains(err.Error(), "percent-encode") || !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("error %q: want the address and what to percent-encode", err)
	}
	if regexp.MustCompile(`PART\d`).MatchString(err.Error()) {
		t.Errorf("error %q shows part of the password", err)
	}
}
