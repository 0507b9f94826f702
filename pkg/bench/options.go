package bench

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Options configure a run. Zero values take the defaults given with each field.
type Options struct {
	// URL is the serve's base URL, http:// or https://. Default http://127.0.0.1:8080.
	URL string
	// AllowRemote permits a URL whose host is not a loopback address. Off by default, so a
	// load test never hits a shared deployment by mistake.
	AllowRemote bool

	// Sessions is the number of sessions (POST /token). Default 200.
	Sessions int
	// SocketsPerSession is the sockets opened on each session. The first one sends; all of
	// them receive every event. Default 1.
	SocketsPerSession int
	// Rate is the total messages per second over all sessions; 0 means closed loop: each
	// session sends its next message when a reply comes back.
	Rate float64
	// Pipeline is, in closed loop, how many messages each session keeps waiting for a reply.
	// Default 1.
	Pipeline int
	// Stagger spreads, in closed loop, the sessions' first messages evenly over this time
	// (at most Warmup); 0 starts them all at once. Sessions started together stay in step:
	// their replies begin, and with a streaming model stream, at the same instants. Spread
	// over one reply's time, they are independent users' replies.
	Stagger time.Duration
	// Duration is how long the measured part lasts. Default 10s; at most MaxDuration.
	Duration time.Duration
	// Warmup runs before the measured part; what is sent then is not counted. Default 1s;
	// negative: none.
	Warmup time.Duration
	// Drain is how long to wait for the replies still due after the last send. Default 5s.
	Drain time.Duration
	// Stream opens the sockets with ?stream=1: ack and delta frames too, and the latency to
	// the first delta.
	Stream bool
	// ModelFirstToken is how long the model takes to its first token (the fake model's
	// interval, --model-first-token): the first delta's latency is also shown after it.
	ModelFirstToken time.Duration
	// Message is the text sent. Default "Hello, how are you today?".
	Message string

	// Idle is the number of sockets the idle mode holds open.
	Idle int
	// IdleBase is the number of sockets the idle mode's baseline is measured with. Default 10.
	IdleBase int
	// IdleHold is how long the idle sockets are held before they are counted. Default 10s.
	IdleHold time.Duration
	// ServePID is the serve's process ID, to read its RSS (/proc/PID/status) and count its
	// Redis connections (/proc/PID/fd); 0 reads the RSS from /metrics and leaves the
	// connection count unknown.
	ServePID int
	// RedisAddrs are the host:port of the serve's Redis nodes, to tell its Redis connections
	// apart from its other connections.
	RedisAddrs []string

	// RedisURL is the Redis of the serve (redis.url). With RedisMonitor, the bench runs
	// MONITOR on it during the measured window and counts the commands per turn of each
	// watched process. MONITOR slows Redis down: use it with a low Rate, for the counts only.
	RedisURL     string
	RedisMonitor bool

	// Watch names processes (name -> PID) whose CPU use during the measured window is
	// reported, e.g. the serve, the workers and Redis.
	Watch map[string]int

	// SourceAddrs is the number of 127.0.0.x source addresses the sockets are spread over;
	// 0 chooses: more than one only when the sockets would need more than half of one
	// address's ephemeral ports (/proc/sys/net/ipv4/ip_local_port_range).
	SourceAddrs int
	// ConnectConcurrency is how many sessions are created and sockets dialed at once.
	// Default 64.
	ConnectConcurrency int
	// ConnectTimeout bounds one POST /token or one socket's dial. Default 10s.
	ConnectTimeout time.Duration
}

// MaxDuration bounds Duration (and IdleHold): a bench always ends by itself.
const MaxDuration = time.Hour

func (o *Options) defaults() {
	if o.URL == "" {
		o.URL = "http://127.0.0.1:8080"
	}
	setInt(&o.Sessions, 200)
	setInt(&o.SocketsPerSession, 1)
	setInt(&o.Pipeline, 1)
	setDur(&o.Duration, 10*time.Second)
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	setDur(&o.Drain, 5*time.Second)
	if o.Message == "" {
		o.Message = "Hello, how are you today?"
	}
	setInt(&o.IdleBase, 10)
	setDur(&o.IdleHold, 10*time.Second)
	setInt(&o.ConnectConcurrency, 64)
	setDur(&o.ConnectTimeout, 10*time.Second)
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setDur(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}

// validate checks the options (defaults filled in) and returns the parsed URL.
func (o *Options) validate() (*url.URL, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http://host:port or https://host:port", o.URL)
	}
	if !o.AllowRemote && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("--url %s: not a loopback address; a load test of another host needs --allow-remote", u.Host)
	}
	switch {
	case o.Duration > MaxDuration || o.Warmup > MaxDuration || o.Drain > MaxDuration || o.IdleHold > MaxDuration:
		return nil, fmt.Errorf("durations are limited to %s", MaxDuration)
	case o.Rate < 0:
		return nil, errors.New("--rate: must be 0 (closed loop) or positive")
	case o.Stagger < 0:
		return nil, errors.New("--stagger: must be 0 (all at once) or positive")
	case o.Stagger > 0 && o.Rate > 0:
		return nil, errors.New("--stagger: closed loop only (a fixed --rate spreads the messages itself)")
	case o.Stagger > o.Warmup:
		return nil, fmt.Errorf("--stagger %s: longer than --warmup %s, so the measured window would count the sessions still starting", o.Stagger, o.Warmup)
	case o.Sessions > 1_000_000 || o.Idle > 1_000_000:
		return nil, errors.New("--sessions and --idle: at most 1000000")
	case o.SourceAddrs < 0 || o.SourceAddrs > 254:
		return nil, errors.New("--source-addrs: between 0 (automatic) and 254")
	case o.Idle < 0:
		return nil, errors.New("--idle: must be positive")
	case o.Idle > 0 && o.Idle <= o.IdleBase:
		return nil, fmt.Errorf("--idle %d: must be more than the %d sockets of the baseline", o.Idle, o.IdleBase)
	}
	return u, nil
}

// isLoopback reports whether host names this machine: localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
