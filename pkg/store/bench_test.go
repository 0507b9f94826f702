package store_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

// Benchmarks of the Redis steps of one turn, against the test Redis (single node and
// cluster, as `make test` / `make bench` start them). Each op is one or two round trips to a
// Redis on loopback, so these measure the round trip and the script's work, not Go code.

// noLimits lets a benchmark queue as much as it likes on one session.
var noLimits = store.SendLimits{MaxPending: 1 << 30, MessagesPerMinute: 1 << 30}

// eachBackend runs f as a sub-benchmark per backend, with a store of the benchmark's own
// key prefix. History and events are capped low so that the keys stay small however long
// the benchmark runs.
func eachBackend(b *testing.B, f func(b *testing.B, s *store.Store, ctx context.Context)) {
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			s := storetest.Open(b, be, store.Options{HistoryMax: 50, EventsMax: 200, StreamMaxLen: 10000})
			f(b, s, context.Background())
		})
	}
}

func newSession(b *testing.B, s *store.Store, ctx context.Context) string {
	b.Helper()
	sess, err := s.CreateSession(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return sess.Token
}

// benchTurn is the turn of a new session's first message, begun with an hour's lease.
func benchTurn(b *testing.B, s *store.Store, ctx context.Context) store.Turn {
	b.Helper()
	token := newSession(b, s, ctx)
	if _, err := s.Send(ctx, token, benchMessage(0), noLimits); err != nil {
		b.Fatal(err)
	}
	turn, state, err := s.BeginTurn(ctx, token, "bench", 0, time.Hour)
	if err != nil || state != store.TurnReady {
		b.Fatalf("begin: %v %v", state, err)
	}
	return turn
}

func benchMessage(i int) chat.Message {
	return chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: "Hello, how are you today?",
		Timestamp: time.Now().UTC(), ClientID: "c" + strconv.Itoa(i)}
}

// BenchmarkSend is what the web tier does per user message: the send script (limits,
// client_id, seq, pending, ack event + publish) and the XADD to the partition stream.
func BenchmarkSend(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		token := newSession(b, s, ctx)
		b.ReportAllocs()
		cpu := redisCPU(b, s, ctx)
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Send(ctx, token, benchMessage(i), noLimits); err != nil {
				b.Fatal(err)
			}
		}
		reportRedisCPU(b, s, ctx, cpu, i, "op")
	})
}

// BenchmarkSendUser is Send with auth.mode jwt: the user's script (per-user limit, index)
// before the session's. Compare with BenchmarkSend: what a signed-in user's message adds.
func BenchmarkSendUser(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		sess, err := s.CreateSessionFor(ctx, "bench-user", "bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		lim := noLimits
		lim.User, lim.MessagesPerMinutePerUser = "bench-user", 1<<30
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Send(ctx, sess.Token, benchMessage(i), lim); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendParallel is Send from many goroutines (one session each), as many sockets
// do: rueidis pipelines their commands on shared connections.
func BenchmarkSendParallel(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			token := newSession(b, s, ctx)
			i := 0
			for pb.Next() {
				i++
				if _, err := s.Send(ctx, token, benchMessage(i), noLimits); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkEnqueue is the XADD to the partition stream alone (the second round trip of Send).
func BenchmarkEnqueue(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		token := newSession(b, s, ctx)
		b.ReportAllocs()
		var seq int64
		for b.Loop() {
			seq++
			if err := s.Enqueue(ctx, token, seq); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEmitDelta writes one delta event under the lease (per streamed piece of a reply).
func BenchmarkEmitDelta(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		turn := benchTurn(b, s, ctx)
		ev := chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "Hello, "}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.EmitDelta(ctx, turn, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEmitDeltas is what the worker writes at an instant of its delta grid while 64
// replies stream: a delta of each, written together (one script on a single Redis, one each
// on a cluster), each after the one its reply wrote before. redis-cpu-ns/delta is the CPU
// Redis spent per delta (INFO cpu, summed over the nodes), with the deltas back to back: the
// cost of a delta in a busy Redis.
func BenchmarkEmitDeltas(b *testing.B) { benchmarkEmitDeltas(b, 0) }

// BenchmarkEmitDeltasPaced is BenchmarkEmitDeltas at the pace of 200 replies streaming with
// worker.delta_interval 50ms (4,000 deltas a second: 64 every 16 ms), as in the LLM scenario
// of make bench: a mostly idle Redis spends several times the CPU on the same deltas (each
// wakeup of its event loop has its own cost, and its caches are cold).
func BenchmarkEmitDeltasPaced(b *testing.B) { benchmarkEmitDeltas(b, 16*time.Millisecond) }

func benchmarkEmitDeltas(b *testing.B, every time.Duration) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		ds := make([]store.Delta, 64)
		for i := range ds {
			turn := benchTurn(b, s, ctx)
			ds[i] = store.Delta{Turn: turn, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "Hello, how are "}}
		}
		b.ReportAllocs()
		cpu := redisCPU(b, s, ctx)
		n := 0
		next := time.Now()
		for b.Loop() {
			if every > 0 {
				next = next.Add(every)
				time.Sleep(time.Until(next)) // the pace of a grid, not a wait for an event
			}
			for i := range ds {
				ds[i].Prev = ds[i].ID
			}
			s.EmitDeltas(ctx, ds)
			for _, d := range ds {
				if d.Err != nil {
					b.Fatal(d.Err)
				}
			}
			n += len(ds)
		}
		reportRedisCPU(b, s, ctx, cpu, n, "delta")
	})
}

// reportRedisCPU reports the CPU Redis spent since from (a redisCPU reading) over n of unit
// ("op", "delta") as redis-cpu-ns/unit: the step's cost to Redis itself, which ns/op (a round
// trip, the client's own work) hides. Steps sent back to back or in parallel keep Redis busy,
// which is when the figure is steadiest; it counts whatever else Redis did meanwhile (the
// benchmarks run alone).
func reportRedisCPU(b *testing.B, s *store.Store, ctx context.Context, from time.Duration, n int, unit string) {
	b.Helper()
	if n > 0 {
		b.ReportMetric(float64(redisCPU(b, s, ctx)-from)/float64(n), "redis-cpu-ns/"+unit)
	}
}

// redisCPU is the CPU time Redis has used (INFO cpu: user and system), summed over the nodes.
func redisCPU(b *testing.B, s *store.Store, ctx context.Context) time.Duration {
	b.Helper()
	var total time.Duration
	for _, c := range s.Client().Nodes() {
		info, err := c.Do(ctx, c.B().Info().Section("cpu").Build()).ToString()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if k == "used_cpu_user" || k == "used_cpu_sys" {
				sec, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("INFO cpu %s: %v", line, err)
				}
				total += time.Duration(sec * float64(time.Second))
			}
		}
	}
	return total
}

// BenchmarkTurn is what a worker does in Redis per message with an instant model: BeginTurn
// (lease, pending message, history) and FinishTurn (history, done, message event + publish).
// The custom metric finish-ns/op is FinishTurn alone. The messages are queued before the
// timer starts; the worker goes from one to the next under the same lease, as it does while
// more of a session is pending.
func BenchmarkTurn(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		token := newSession(b, s, ctx)
		for i := range b.N {
			if _, err := s.Send(ctx, token, benchMessage(i), noLimits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		cpu := redisCPU(b, s, ctx)
		b.ResetTimer()
		var finish time.Duration
		for range b.N {
			turn, state, err := s.BeginTurn(ctx, token, "bench", 20, time.Minute)
			if err != nil || state != store.TurnReady {
				b.Fatalf("begin: %v %v", state, err)
			}
			reply := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "echo: " + turn.Message.Msg,
				Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID}
			t0 := time.Now()
			if _, err := s.FinishTurn(ctx, turn, &reply, chat.MessageEvent(reply)); err != nil {
				b.Fatal(err)
			}
			finish += time.Since(t0)
		}
		b.ReportMetric(float64(finish.Nanoseconds())/float64(b.N), "finish-ns/op")
		reportRedisCPU(b, s, ctx, cpu, b.N, "op")
	})
}

// BenchmarkTurnParallel is a whole turn from many goroutines, each on a session of its own:
// Send, BeginTurn and FinishTurn, the Redis work of a message of the throughput scenario (but
// the worker's read and acknowledgement of its request). Its redis-cpu-ns/op is Redis's CPU per
// turn with Redis kept busy, steadier than the scenario's on a shared machine.
func BenchmarkTurnParallel(b *testing.B) {
	eachBackend(b, func(b *testing.B, s *store.Store, ctx context.Context) {
		var holders atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(16)
		cpu := redisCPU(b, s, ctx)
		defer func() { reportRedisCPU(b, s, ctx, cpu, b.N, "op") }()
		b.RunParallel(func(pb *testing.PB) {
			token := newSession(b, s, ctx)
			holder := "bench-" + strconv.FormatInt(holders.Add(1), 10)
			i := 0
			for pb.Next() {
				i++
				if _, err := s.Send(ctx, token, benchMessage(i), noLimits); err != nil {
					b.Error(err)
					return
				}
				turn, state, err := s.BeginTurn(ctx, token, holder, 20, time.Minute)
				if err != nil || state != store.TurnReady {
					b.Errorf("begin: %v %v", state, err)
					return
				}
				reply := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "echo: " + turn.Message.Msg,
					Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID}
				if _, err := s.FinishTurn(ctx, turn, &reply, chat.MessageEvent(reply)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
