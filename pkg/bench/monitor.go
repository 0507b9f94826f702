package bench

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatbot/pkg/store"
)

// RoundTrips is what Redis MONITOR saw during the measured window, per turn (per message due
// in the window): the commands each process sent (round trips, when not pipelined together)
// and the commands the scripts ran inside Redis.
type RoundTrips struct {
	Turns int64 `json:"turns"`
	// ByProcess counts, for each watched process ("other" for the rest), the commands it
	// sent per turn, by command; EVALSHA is named after its script (scriptName).
	ByProcess map[string]map[string]float64 `json:"by_process"`
	// PerTurn is the total per process.
	PerTurn map[string]float64 `json:"per_turn"`
	// InScripts counts the commands run inside scripts per turn, by command.
	InScripts map[string]float64 `json:"in_scripts"`
}

// monitor reads MONITOR from the Redis at redisURL (a single node, redis:// only) until ctx
// ends, counting commands by client address.
type monitor struct {
	conn net.Conn

	mu       sync.Mutex
	byAddr   map[string]map[string]int64 // client address -> command -> count
	inScript map[string]int64
	from, to time.Time
}

func startMonitor(ctx context.Context, redisURL string, from, to time.Time) (*monitor, error) {
	u, err := url.Parse(redisURL)
	if err != nil || u.Scheme != "redis" || u.Host == "" {
		return nil, fmt.Errorf("--redis-monitor needs a redis://host:port URL (single node, no TLS)")
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("redis monitor: %w", err)
	}
	r := bufio.NewReaderSize(conn, 1<<20)
	if pw, ok := u.User.Password(); ok {
		if err := command(conn, r, "AUTH", u.User.Username(), pw); err != nil {
			conn.Close()
			return nil, fmt.Errorf("redis monitor: AUTH: %w", err)
		}
	}
	if err := command(conn, r, "MONITOR"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("redis monitor: %w", err)
	}
	m := &monitor{conn: conn, byAddr: map[string]map[string]int64{}, inScript: map[string]int64{}, from: from, to: to}
	go m.read(r)
	context.AfterFunc(ctx, func() { conn.Close() })
	return m, nil
}

// command sends one command and reads a simple-string reply.
func command(conn net.Conn, r *bufio.Reader, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") {
		return fmt.Errorf("%s", strings.TrimSpace(line))
	}
	return nil
}

func (m *monitor) read(r *bufio.Reader) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		ts, addr, args, ok := parseMonitorLine(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
		if !ok || len(args) == 0 {
			continue
		}
		at := time.Unix(0, int64(ts*1e9))
		if at.Before(m.from) || !at.Before(m.to) {
			continue
		}
		m.mu.Lock()
		if addr == "lua" {
			m.inScript[strings.ToUpper(args[0])]++
		} else {
			c := m.byAddr[addr]
			if c == nil {
				c = map[string]int64{}
				m.byAddr[addr] = c
			}
			c[scriptName(args)]++
		}
		m.mu.Unlock()
	}
}

func (m *monitor) stop() { m.conn.Close() }

// result attributes the counts to processes by their connections' local ports and divides
// by the turns.
func (m *monitor) result(turns int64, procs map[string][]string) RoundTrips {
	rt := RoundTrips{Turns: turns, ByProcess: map[string]map[string]float64{}, PerTurn: map[string]float64{}, InScripts: map[string]float64{}}
	if turns <= 0 {
		return rt
	}
	owner := map[string]string{}
	for name, addrs := range procs {
		for _, a := range addrs {
			owner[a] = name
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for addr, cmds := range m.byAddr {
		name := owner[addr]
		if name == "" {
			name = "other"
		}
		if rt.ByProcess[name] == nil {
			rt.ByProcess[name] = map[string]float64{}
		}
		for cmd, n := range cmds {
			rt.ByProcess[name][cmd] += float64(n) / float64(turns)
			rt.PerTurn[name] += float64(n) / float64(turns)
		}
	}
	for cmd, n := range m.inScript {
		rt.InScripts[cmd] = float64(n) / float64(turns)
	}
	return rt
}

// scriptName names a command for the counts: EVALSHA (and EVAL) by the script it runs, as
// pkg/store names its scripts by SHA1 (store.ScriptNames: "EVALSHA send" for lua/send.lua);
// other commands by name.
func scriptName(args []string) string {
	cmd := strings.ToUpper(args[0])
	if len(args) < 2 {
		return cmd
	}
	sha := args[1]
	switch cmd {
	case "EVALSHA":
	case "EVAL":
		sum := sha1.Sum([]byte(args[1]))
		sha = hex.EncodeToString(sum[:])
	default:
		return cmd
	}
	if name, ok := scriptNames[strings.ToLower(sha)]; ok {
		return cmd + " " + strings.TrimSuffix(name, ".lua")
	}
	return cmd + " (unknown script)"
}

var scriptNames = store.ScriptNames()

// parseMonitorLine splits `1700000000.123456 [0 127.0.0.1:5000] "CMD" "arg" ...` into the
// time, the client ("lua" inside a script) and the unquoted arguments.
func parseMonitorLine(line string) (ts float64, addr string, args []string, ok bool) {
	line = strings.TrimPrefix(line, "+")
	tsStr, rest, found := strings.Cut(line, " [")
	if !found {
		return 0, "", nil, false
	}
	ts, err := strconv.ParseFloat(tsStr, 64)
	if err != nil {
		return 0, "", nil, false
	}
	client, rest, found := strings.Cut(rest, "] ")
	if !found {
		return 0, "", nil, false
	}
	_, addr, _ = strings.Cut(client, " ") // "db addr"
	for i := 0; i < len(rest); {
		if rest[i] != '"' {
			i++
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' && j+1 < len(rest) {
				j++
				switch rest[j] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case 'x':
					if j+2 < len(rest) {
						if v, err := strconv.ParseUint(rest[j+1:j+3], 16, 8); err == nil {
							b.WriteByte(byte(v))
							j += 2
							continue
						}
					}
					b.WriteByte('x')
				default:
					b.WriteByte(rest[j])
				}
				continue
			}
			b.WriteByte(rest[j])
		}
		args = append(args, b.String())
		i = j + 1
	}
	return ts, addr, args, true
}

// connAddrs lists the local addresses of process pid's established TCP connections to any of
// the remote ports: the socket inodes of /proc/PID/fd looked up in /proc/PID/net/tcp and
// tcp6. IPv4 addresses read "ip:port" (as MONITOR names clients), IPv6 ones stay in hex.
func connAddrs(pid int, ports ...int) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			if ino, ok := strings.CutPrefix(link, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	want := map[string]bool{}
	for _, p := range ports {
		want[fmt.Sprintf("%04X", p)] = true
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "01" || !inodes[f[9]] {
				continue
			}
			if _, port, ok := strings.Cut(f[2], ":"); !ok || !want[port] {
				continue
			}
			a, ok := hexAddr(f[1])
			if !ok {
				a = f[1]
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// hexAddr decodes an IPv4 "0100007F:1F90" of /proc/net/tcp into "127.0.0.1:8080".
func hexAddr(s string) (string, bool) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok || len(ipHex) != 8 {
		return "", false
	}
	ip, err1 := strconv.ParseUint(ipHex, 16, 32)
	port, err2 := strconv.ParseUint(portHex, 16, 16)
	if err1 != nil || err2 != nil {
		return "", false
	}
	// The address is in host (little-endian) byte order.
	return fmt.Sprintf("%d.%d.%d.%d:%d", byte(ip), byte(ip>>8), byte(ip>>16), byte(ip>>24), port), true
}
