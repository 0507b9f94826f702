package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"chatbot/pkg/defaults"

	"github.com/redis/rueidis"
)

// Options says how to reach Redis and how the project's data is shaped there.
type Options struct {
	// URL is redis://[user:password@]host:port/db, rediss:// for TLS, and for a cluster
	// redis://h1:p1?addr=h2:p2&addr=h3:p3.
	URL string
	// TLSCAFile is a PEM bundle that verifies a rediss:// server instead of the system roots.
	TLSCAFile string
	// ConnectTimeout bounds dialing and the first handshake (redis.connect_timeout). Default 5s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds each command that is not blocking (redis.command_timeout).
	// Default 5s.
	CommandTimeout time.Duration
	// Prefix starts every key; DefaultPrefix when empty.
	Prefix string
	// Embedded is set for an in-process miniredis (chatbot dev): no client-side cache, one
	// connection type, none of the checks of a real server (checkServer).
	Embedded bool
	// Mode says whether one script may touch keys of two hash slots (redis.mode): ModeAuto
	// (the default) finds out at Open, ModeSingle insists it may (and Open fails if it may
	// not), ModeCluster never lets it.
	Mode string
	// Logger gets what Open finds worth a warning (a refused CLIENT SETNAME, an eviction
	// policy that may drop session keys); default: discard.
	Logger *slog.Logger

	// SessionTTL, HistoryMax and EventsMax shape a session's data (session.ttl,
	// session.history_max, session.events_max). Defaults 1h, 1000, 2000.
	SessionTTL time.Duration
	HistoryMax int
	EventsMax  int
	// HistoryMaxBytes and EventsMaxBytes bound the bytes a session keeps, its history's JSON
	// entries and its events' (deltas not counted: a stored reply deletes them), the oldest
	// dropped first (session.history_max_bytes, session.events_max_bytes). Default 1 MiB each.
	HistoryMaxBytes int
	EventsMaxBytes  int
	// Partitions, StreamMaxLen and StreamMaxAge shape the request streams (stream.partitions,
	// stream.max_len, stream.max_age; TrimStreams applies the age, to chat:dead too). Defaults
	// 4, 100000, 24h.
	Partitions   int
	StreamMaxLen int
	StreamMaxAge time.Duration
	// Budget is the accounting of tokens per user and day (limits.tokens_per_day_per_user).
	Budget Budget
}

func (o *Options) defaults() {
	o.Budget.defaults()
	if o.Mode == "" {
		o.Mode = defaults.RedisMode
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaults.RedisConnectTimeout
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = defaults.RedisCommandTimeout
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = defaults.SessionTTL
	}
	if o.HistoryMax <= 0 {
		o.HistoryMax = defaults.SessionHistoryMax
	}
	if o.EventsMax <= 0 {
		o.EventsMax = defaults.SessionEventsMax
	}
	if o.HistoryMaxBytes <= 0 {
		o.HistoryMaxBytes = defaults.SessionHistoryMaxBytes
	}
	if o.EventsMaxBytes <= 0 {
		o.EventsMaxBytes = defaults.SessionEventsMaxBytes
	}
	if o.Partitions <= 0 {
		o.Partitions = defaults.StreamPartitions
	}
	if o.StreamMaxLen <= 0 {
		o.StreamMaxLen = defaults.StreamMaxLen
	}
	if o.StreamMaxAge <= 0 {
		o.StreamMaxAge = defaults.StreamMaxAge
	}
}

// Store is the project's Redis layer. It is safe for concurrent use.
type Store struct {
	rdb  rueidis.Client
	keys Keys
	opt  Options
	addr string // redacted address, for errors
	// oneNode: every key is on one node that lets a script touch keys of any slot (the
	// session's and a request stream's): decided by Open (checkServer).
	oneNode bool
}

// Open connects to Redis and checks it answers within ConnectTimeout, then checks the server
// (checkServer: its version, whether a script may span hash slots, the stream.partitions it
// records). The error names the address (without the password) and says what failed, in one
// line.
func Open(ctx context.Context, opt Options) (*Store, error) {
	opt.defaults()
	copt, err := clientOption(opt)
	if err != nil {
		return nil, err
	}
	addr := redactAddr(opt.URL)
	pctx, cancel := context.WithTimeout(ctx, opt.ConnectTimeout)
	defer cancel()
	rdb, err := connect(pctx, copt)
	if err != nil && copt.ClientName != "" && refused(err) {
		// A proxy or an ACL that refuses CLIENT SETNAME (rueidis names every connection in
		// its handshake) costs the connections their name, not the service.
		nameless := copt
		nameless.ClientName = ""
		if rdb, err = connect(pctx, nameless); err == nil {
			opt.Logger.Warn("Redis refused to name the connections (CLIENT SETNAME); going on without names", "redis", addr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("redis %s: %s", addr, describe(err, copt.TLSConfig != nil))
	}
	s := &Store{rdb: rdb, keys: NewKeys(opt.Prefix), opt: opt, addr: addr}
	if err := s.checkServer(pctx); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return s, nil
}

// connect makes a client and checks the server answers a PING.
func connect(ctx context.Context, copt rueidis.ClientOption) (rueidis.Client, error) {
	rdb, err := rueidis.NewClient(copt)
	if err != nil {
		return nil, err
	}
	if err := rdb.Do(ctx, rdb.B().Ping().Build()).Error(); err != nil {
		rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// refused reports an error reply of the server (or of a proxy in front of it) to a command
// it will not run, as opposed to a connection that failed or credentials it rejected.
func refused(err error) bool {
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	return !strings.Contains(msg, "WRONGPASS") && !strings.Contains(msg, "NOAUTH") && !strings.Contains(msg, "invalid password")
}

// FromClient wraps an existing client (tests), without Open's checks: a script may span
// hash slots unless the client is a cluster client or opt.Mode is ModeCluster.
func FromClient(rdb rueidis.Client, opt Options) *Store {
	opt.defaults()
	return &Store{rdb: rdb, keys: NewKeys(opt.Prefix), opt: opt, addr: redactAddr(opt.URL),
		oneNode: rdb.Mode() != rueidis.ClientModeCluster && opt.Mode != ModeCluster}
}

// ScriptsSpanSlots reports whether one script may touch keys of two hash slots here (Open
// found it so, after redis.mode): then a send queues its request in the same script.
func (s *Store) ScriptsSpanSlots() bool { return s.oneNode }

// Close closes every connection.
func (s *Store) Close() { s.rdb.Close() }

// Client is the underlying rueidis client, for the packages that run their own commands.
func (s *Store) Client() rueidis.Client { return s.rdb }

// Keys names the keys of this store.
func (s *Store) Keys() Keys { return s.keys }

// Options are the options the store was opened with, defaults filled in.
func (s *Store) Options() Options { return s.opt }

// Addr is the Redis address without credentials, for messages.
func (s *Store) Addr() string { return s.addr }

// Ping checks that Redis answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	return s.rdb.Do(ctx, s.rdb.B().Ping().Build()).Error()
}

func (s *Store) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opt.CommandTimeout)
}

func clientOption(opt Options) (rueidis.ClientOption, error) {
	if err := checkURL(opt.URL); err != nil {
		return rueidis.ClientOption{}, err
	}
	copt, err := rueidis.ParseURL(opt.URL)
	if err != nil {
		return copt, fmt.Errorf("redis.url %s: %s", redactAddr(opt.URL), strings.TrimPrefix(err.Error(), "redis: "))
	}
	if copt.TLSConfig != nil && opt.TLSCAFile != "" {
		pem, err := os.ReadFile(opt.TLSCAFile)
		if err != nil {
			return copt, fmt.Errorf("redis.tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return copt, fmt.Errorf("redis.tls_ca_file %s: no PEM certificate in it", opt.TLSCAFile)
		}
		copt.TLSConfig.RootCAs = pool
	}
	if copt.TLSConfig != nil && copt.TLSConfig.ServerName == "" && len(copt.InitAddress) > 0 {
		if host, _, ok := strings.Cut(copt.InitAddress[0], ":"); ok {
			copt.TLSConfig.ServerName = host
		}
	}
	copt.Dialer.Timeout = opt.ConnectTimeout
	copt.ConnWriteTimeout = opt.ConnectTimeout
	copt.DisableCache = true
	copt.ClientName = "chatbot"
	// No CLIENT SETINFO on connect: the ACL user may not run CLIENT (ACLCommands), and a
	// refused command on every connection would fill the server's ACL LOG.
	copt.ClientSetInfo = rueidis.DisableClientSetInfo
	if opt.Embedded {
		copt.ForceSingleClient = true
	}
	return copt, nil
}

// checkURL refuses a redis.url that would not be read as its writer meant, before any
// message can quote it: an unescaped / ? # or @ in the user or password ends the host early, and
// the rest of the password would land in the host, the path, or an error text.
func checkURL(raw string) error {
	if !strings.Contains(raw, "://") {
		return fmt.Errorf("redis.url %s: want redis://[user:password@]host:port/db or rediss://...", redactAddr(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		why := "not a valid URL (percent-encode special characters of the user and password)"
		var ue *url.Error
		// Without '@' there are no credentials that the parser's reason could quote.
		if errors.As(err, &ue) && !strings.Contains(raw, "@") {
			why = ue.Err.Error()
		}
		return fmt.Errorf("redis.url %s: %s", redactAddr(raw), why)
	}
	if host, _ := hostPart(raw); u.Host != host {
		return fmt.Errorf("redis.url %s: the user or password holds a character that must be "+
			"percent-encoded (%%2F for /, %%3F for ?, %%23 for #, %%40 for @, %%25 for %%)", redactAddr(raw))
	}
	return nil
}

// hostPart is the host[:port] of a URL as its writer meant it, and its query: what follows the
// last '@' (so no part of a password ever counts), up to the path, query or fragment.
func hostPart(raw string) (host, query string) {
	_, rest, _ := strings.Cut(raw, "://")
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ = strings.Cut(rest, "?")
	host, _, _ = strings.Cut(rest, "/")
	return host, query
}

// redactAddr is the scheme and host:port list of a Redis URL, never its credentials, even in a
// URL whose password was not percent-encoded.
func redactAddr(raw string) string {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" || strings.Trim(strings.ToLower(scheme), "abcdefghijklmnopqrstuvwxyz0123456789+-.") != "" {
		return "(unparsable redis.url)"
	}
	host, query := hostPart(raw)
	addrs := []string{host}
	if q, err := url.ParseQuery(query); err == nil {
		addrs = append(addrs, q["addr"]...)
	}
	return scheme + "://" + strings.Join(addrs, ",")
}

// describe turns a connection error into one readable phrase that says what to check. It
// never contains credentials: Redis does not echo them, and the address is added by the caller.
// withTLS says the URL is rediss://.
func describe(err error, withTLS bool) string {
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var authority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &authority):
		return "TLS certificate not trusted: " + authority.Error() +
			" (set redis.tls_ca_file to the CA bundle that signed the server's certificate)"
	case errors.As(err, &hostname):
		return "TLS certificate does not match the address: " + hostname.Error()
	case errors.As(err, &certErr):
		return "TLS certificate not trusted: " + certErr.Err.Error()
	case errors.As(err, &recErr):
		return "the server does not speak TLS (use redis:// instead of rediss://)"
	case errors.Is(err, context.DeadlineExceeded) && withTLS:
		// A plain Redis port never answers a TLS handshake.
		return "no answer in time (is Redis running there, serving TLS on this port? a plain port wants redis://)"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time (is Redis running there?)"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "invalid password"):
		return "authentication failed: wrong user or password (" + msg + ")"
	case strings.Contains(msg, "NOPERM"):
		return "refused by the Redis ACL: the user lacks a right the project needs, see SECURITY.md (" + msg + ")"
	case strings.Contains(msg, "connection refused"):
		return "connection refused (is Redis running there?)"
	case strings.Contains(msg, "connection reset by peer"), strings.HasSuffix(msg, "EOF"):
		return "the server closed the connection (" + msg + "); if it wants TLS, use rediss://"
	}
	return msg
}
