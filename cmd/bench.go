package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"

	"chatbot/pkg/bench"

	"github.com/spf13/cobra"
)

func newBenchCommand() *cobra.Command {
	var (
		o        bench.Options
		asJSON   bool
		jsonFile string
		model    bench.ModelOptions
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running serve: turns/s, latency percentiles, idle sockets",
		Long: `Drive a running 'chatbot serve' as real users do: create sessions (POST /token), open a
socket each (--sockets-per-session), send messages at a fixed total rate (--rate) or closed loop
(the next when the reply is back, --pipeline in flight per session; --stagger spreads the
sessions' starts, which otherwise stay in step) for --duration after a --warmup, then wait up to --drain for the replies still due. Prints turns/s, errors by kind and
latency percentiles (p50/p90/p99/max) from send to the full reply (message frame), and with
--stream to the ack and to the first delta.

--idle N holds N sockets open without traffic instead, then reports how many stayed up and the
serve's RSS, heap, stacks and goroutines per socket (from /metrics, or /proc/PID/status with
--serve-pid) compared with --idle-base sockets, and with --serve-pid the serve's Redis
connection count (connections to redis.url's nodes).

--model-addr ADDR serves a fake OpenAI-compatible model instead, until interrupted: every
reply --model-words words long, one word every --model-interval, like a real model's tokens.
Point a worker at it (--llm.provider openai --llm.base_url http://ADDR/v1) and run a load with
--stream --model-first-token INTERVAL: the bench then also prints the cost per token (Redis
and app CPU per 1,000 tokens, Redis commands and bytes of traffic per token, from Redis's
INFO on redis.url), the first token's latency after the model's own, and the Redis memory a
finished reply leaves.

The serve's limits apply to the bench like to anyone, and all its sockets come from one
address: raise limits.messages_per_minute, limits.max_pending and
limits.sessions_per_minute_per_ip and limits.frames_per_second (a closed loop sends more than
50 messages a second per socket), and turn limits.messages_per_minute_per_ip and
limits.sockets_per_ip off (0) on the serve for a load test.
Only loopback URLs unless --allow-remote. A run always ends by itself.`,
		Example: `  chatbot bench --sessions 200 --duration 30s                 # max throughput, closed loop
  chatbot bench --sessions 200 --rate 1000 --stream            # latency at 1000 msg/s
  chatbot bench --idle 19000 --serve-pid $(pgrep -n chatbot)   # idle sockets, memory per socket
  chatbot bench --json | jq .turns_per_s
  chatbot bench --model-addr 127.0.0.1:9099 &                  # a fake model: 100 words, one per 25ms
  chatbot bench --sessions 200 --stream --model-first-token 25ms # against a worker using it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if o.URL == "" {
				o.URL = urlOf(cfg.Server.Addr)
			}
			o.RedisAddrs, o.RedisURL = redisAddrs(cfg.Redis.URL), cfg.Redis.URL
			if model.Addr != "" {
				return bench.ServeModel(cmd.Context(), model, func(addr string) {
					fmt.Fprintf(cmd.OutOrStdout(), "fake model on http://%s/v1: %d words a reply, one every %s\n", addr, model.Words, model.Interval)
				})
			}
			var res printer
			if o.Idle > 0 {
				res, err = bench.RunIdle(cmd.Context(), o)
			} else {
				res, err = bench.Run(cmd.Context(), o)
			}
			if err != nil {
				return err
			}
			if jsonFile != "" {
				if err := writeJSONFile(jsonFile, res); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			res.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "the serve's base URL (default http://127.0.0.1:PORT of server.addr)")
	f.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a URL that is not a loopback address")
	f.IntVar(&o.Sessions, "sessions", 200, "sessions to create")
	f.IntVar(&o.SocketsPerSession, "sockets-per-session", 1, "sockets per session (the first sends, all receive)")
	f.Float64Var(&o.Rate, "rate", 0, "messages per second in total; 0: closed loop")
	f.IntVar(&o.Pipeline, "pipeline", 1, "closed loop: messages in flight per session")
	f.DurationVar(&o.Stagger, "stagger", 0, "closed loop: spread the sessions' first messages over this time (at most --warmup; 0: all at once)")
	f.DurationVar(&o.Duration, "duration", 10e9, "measured time (at most 1h)")
	f.DurationVar(&o.Warmup, "warmup", 1e9, "time before the measured part (not counted)")
	f.DurationVar(&o.Drain, "drain", 5e9, "time to wait for the replies due after the last send")
	f.BoolVar(&o.Stream, "stream", false, "open the sockets with ?stream=1: ack and first-delta latency too")
	f.StringVar(&o.Message, "message", "Hello, how are you today?", "the text each message sends")
	f.IntVar(&o.Idle, "idle", 0, "idle mode: hold this many sockets open without traffic")
	f.IntVar(&o.IdleBase, "idle-base", 10, "idle mode: sockets of the baseline sample")
	f.DurationVar(&o.IdleHold, "idle-hold", 10e9, "idle mode: how long to hold the sockets before counting them")
	f.IntVar(&o.ServePID, "serve-pid", 0, "the serve's PID: RSS from /proc/PID/status and its Redis connection count")
	f.IntVar(&o.SourceAddrs, "source-addrs", 0, "spread sockets over 127.0.0.1..N (0: as many as the sockets need)")
	f.IntVar(&o.ConnectConcurrency, "connect-concurrency", 64, "sessions created and sockets dialed at once")
	f.DurationVar(&o.ConnectTimeout, "connect-timeout", 10e9, "time limit of one POST /token or socket dial")
	f.BoolVar(&o.RedisMonitor, "redis-monitor", false, "count the Redis commands per turn with MONITOR on redis.url (slows Redis: use a low --rate)")
	f.StringToIntVar(&o.Watch, "watch", nil, "report the CPU use of these processes during the measured window: name=PID,...")
	f.StringVar(&model.Addr, "model-addr", "", "serve a fake OpenAI-compatible model on this loopback address instead of a load")
	f.IntVar(&model.Words, "model-words", 100, "fake model: words per reply")
	f.DurationVar(&model.Interval, "model-interval", 25e6, "fake model: time before each word")
	f.DurationVar(&o.ModelFirstToken, "model-first-token", 0, "the model's own time to its first token: per-token costs and first-token latency after it")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.StringVar(&jsonFile, "json-file", "", "also write the result as JSON to this file")
	return cmd
}

// printer is a result of either mode.
type printer interface{ Print(io.Writer) }

func writeJSONFile(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json-file: %w", err)
	}
	if err := writeJSON(f, v); err != nil {
		f.Close()
		return fmt.Errorf("--json-file %s: %w", path, err)
	}
	return f.Close()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// urlOf is the loopback URL of a listen address such as ":8080" or "0.0.0.0:8080".
func urlOf(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// redisAddrs are the host:port of every node named by a redis.url.
func redisAddrs(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	out := []string{u.Host}
	for _, a := range u.Query()["addr"] {
		if strings.Contains(a, ":") {
			out = append(out, a)
		}
	}
	return out
}
