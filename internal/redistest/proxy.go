package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Proxy is a RESP proxy in front of one Redis node that refuses what the proxies of managed,
// enterprise and serverless Redis refuse: a script whose keys hash to more than one slot
// (CROSSSLOT, though every key is on the one node behind it), CLUSTER commands (the cluster is
// hidden, or an ACL denies it), and naming the connection; it may also claim another server
// version. Everything else goes through unchanged, in order, pub/sub included.
//
// A refused command is not answered by the proxy itself, which would have to order its answer
// among the node's: it is replaced by a script that makes the node answer with the refusal
// (or the claimed version).
type Proxy struct {
	opt     ProxyOptions
	backend string
	ln      net.Listener

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{}
	refused map[string]int
	wg      sync.WaitGroup
}

// ProxyOptions say what a Proxy refuses.
type ProxyOptions struct {
	// CrossSlot refuses EVAL and EVALSHA whose keys are on more than one hash slot.
	CrossSlot bool
	// Cluster refuses every CLUSTER command.
	Cluster bool
	// SetName refuses CLIENT SETNAME and HELLO ... SETNAME.
	SetName bool
	// Version, when set, is the version HELLO (without arguments) and INFO server report.
	Version string
}

// The refusals, as Redis Enterprise's proxy and an ACL word them.
const (
	refuseCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot"
	refuseCluster   = "ERR command CLUSTER is not allowed: this endpoint hides its cluster"
	refuseSetName   = "NOPERM this user has no permissions to run the 'client|setname' command"
)

// The scripts a rewritten command becomes: an error (ARGV[1]), HELLO's and INFO server's
// answers for the version ARGV[1].
const (
	errorScript      = "return redis.error_reply(ARGV[1])"
	helloScript      = "return {'server', 'redis', 'version', ARGV[1], 'proto', 3, 'mode', 'standalone'}"
	infoServerScript = "return '# Server\r\nredis_version:' .. ARGV[1] .. '\r\n'"
)

// StartProxy listens on a free loopback port and forwards to backend (host:port). Close it.
func StartProxy(backend string, opt ProxyOptions) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{opt: opt, backend: backend, ln: ln, conns: map[net.Conn]struct{}{}, refused: map[string]int{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// NewProxy is StartProxy for t, closed when t ends.
func NewProxy(t testing.TB, backend string, opt ProxyOptions) *Proxy {
	t.Helper()
	p, err := StartProxy(backend, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is redis://host:port/0 of the proxy.
func (p *Proxy) URL() string { return "redis://" + p.Addr() + "/0" }

// Refused counts the commands refused so far, by kind: "crossslot", "cluster", "setname".
func (p *Proxy) Refused() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.refused))
	for k, v := range p.refused {
		out[k] = v
	}
	return out
}

// Close stops listening, closes every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve forwards one client connection: commands one by one to the node (a refused one
// replaced), and everything the node sends back as it comes.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	node, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	if !p.track(node) {
		node.Close()
		return
	}
	defer p.untrack(node)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		io.Copy(client, node)
		client.Close()
	}()
	r := bufio.NewReader(client)
	for {
		args, raw, err := readCommand(r)
		if err != nil {
			return
		}
		if why, kind := p.refusal(args); why != "" {
			p.mu.Lock()
			p.refused[kind]++
			p.mu.Unlock()
			raw = encodeCommand("EVAL", errorScript, "0", why)
		} else if script := p.versionScript(args); script != "" {
			raw = encodeCommand("EVAL", script, "0", p.opt.Version)
		}
		if _, err := node.Write(raw); err != nil {
			return
		}
	}
}

// refusal says why args is refused ("" when it is not) and the kind of refusal.
func (p *Proxy) refusal(args []string) (why, kind string) {
	if len(args) == 0 {
		return "", ""
	}
	switch name := strings.ToUpper(args[0]); {
	case p.opt.Cluster && name == "CLUSTER":
		return refuseCluster, "cluster"
	case p.opt.SetName && name == "CLIENT" && len(args) > 1 && strings.EqualFold(args[1], "SETNAME"):
		return refuseSetName, "setname"
	case p.opt.SetName && name == "HELLO" && containsFold(args[1:], "SETNAME"):
		return refuseSetName, "setname"
	case p.opt.CrossSlot && (name == "EVAL" || name == "EVALSHA") && len(args) > 2:
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 2 || 3+n > len(args) {
			return "", ""
		}
		slot := KeySlotOf(args[3])
		for _, k := range args[4 : 3+n] {
			if KeySlotOf(k) != slot {
				return refuseCrossSlot, "crossslot"
			}
		}
	}
	return "", ""
}

// versionScript is the script that answers args with Options.Version ("" for none).
func (p *Proxy) versionScript(args []string) string {
	switch {
	case p.opt.Version == "":
	case len(args) == 1 && strings.EqualFold(args[0], "HELLO"):
		return helloScript
	case len(args) == 2 && strings.EqualFold(args[0], "INFO") && strings.EqualFold(args[1], "server"):
		return infoServerScript
	}
	return ""
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// readCommand reads one command (a RESP array of bulk strings) and returns its arguments and
// its bytes as they came.
func readCommand(r *bufio.Reader) ([]string, []byte, error) {
	var raw bytes.Buffer
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, nil, err
	}
	raw.WriteString(line)
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), raw.Bytes(), nil // an inline command
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 0 {
		return nil, nil, fmt.Errorf("bad array header %q", line)
	}
	args := make([]string, 0, n)
	for range n {
		hdr, err := r.ReadString('\n')
		if err != nil {
			return nil, nil, err
		}
		raw.WriteString(hdr)
		if !strings.HasPrefix(hdr, "$") {
			return nil, nil, fmt.Errorf("bad bulk header %q", hdr)
		}
		size, err := strconv.Atoi(strings.TrimSpace(hdr[1:]))
		if err != nil || size < 0 {
			return nil, nil, fmt.Errorf("bad bulk header %q", hdr)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, nil, err
		}
		raw.Write(buf)
		args = append(args, string(buf[:size]))
	}
	return args, raw.Bytes(), nil
}

// encodeCommand is args as a RESP array of bulk strings.
func encodeCommand(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// KeySlotOf is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash tag (the part
// between the first { and the next }, when not empty) or of the whole key, mod 16384.
func KeySlotOf(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
