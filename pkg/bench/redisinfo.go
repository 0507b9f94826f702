package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RedisUse is what the Redis of the serve counted itself (INFO) during a load run: every
// command it ran, those inside scripts included (INFO commandstats), the bytes it read and
// wrote on its connections, and its memory.
type RedisUse struct {
	// Commands and NetBytes are over the measured window.
	Commands int64 `json:"commands"`
	NetBytes int64 `json:"net_bytes"`
	// MemoryBytes is used_memory after the drain minus before the sessions were created:
	// what the run left in Redis (its sessions, histories and event streams).
	MemoryBytes int64 `json:"memory_bytes"`
}

// redisInfo is one INFO sample: name -> value, and the calls of every command.
type redisInfo struct {
	fields   map[string]string
	commands int64
}

func (i redisInfo) int(name string) int64 {
	v, _ := strconv.ParseInt(i.fields[name], 10, 64)
	return v
}

// sampleRedis reads INFO commandstats, stats and memory from the Redis at redisURL (a single
// node, redis:// only). INFO's own calls are left out of the command count.
func sampleRedis(ctx context.Context, redisURL string) (redisInfo, error) {
	u, err := url.Parse(redisURL)
	if err != nil || u.Scheme != "redis" || u.Host == "" {
		return redisInfo{}, fmt.Errorf("redis INFO needs a redis://host:port URL (single node, no TLS)")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return redisInfo{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	if pw, ok := u.User.Password(); ok {
		if err := command(conn, r, "AUTH", u.User.Username(), pw); err != nil {
			return redisInfo{}, fmt.Errorf("AUTH: %w", err)
		}
	}
	if _, err := conn.Write([]byte("*4\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n$5\r\nstats\r\n$6\r\nmemory\r\n")); err != nil {
		return redisInfo{}, err
	}
	head, err := r.ReadString('\n')
	if err != nil {
		return redisInfo{}, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 {
		return redisInfo{}, fmt.Errorf("INFO: %s", strings.TrimSpace(head))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return redisInfo{}, err
	}
	return parseInfo(string(body)), nil
}

// parseInfo reads INFO's "name:value" lines; cmdstat_NAME:calls=N,... lines add to commands.
func parseInfo(s string) redisInfo {
	info := redisInfo{fields: map[string]string{}}
	for _, line := range strings.Split(s, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if cmd, ok := strings.CutPrefix(name, "cmdstat_"); ok {
			calls, _, _ := strings.Cut(strings.TrimPrefix(value, "calls="), ",")
			if n, err := strconv.ParseInt(calls, 10, 64); err == nil && cmd != "info" && cmd != "auth" {
				info.commands += n
			}
			continue
		}
		info.fields[name] = value
	}
	return info
}

// netBytes is what Redis read and wrote on its connections.
func (i redisInfo) netBytes() int64 {
	return i.int("total_net_input_bytes") + i.int("total_net_output_bytes")
}
