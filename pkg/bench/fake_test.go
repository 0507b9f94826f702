package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeServe speaks the serve's protocol (docs/PROTOCOL.md) with an instant echo model, so the
// bench's own logic can be tested without Redis: POST /token, /chat with ack, delta and
// message frames carrying offsets, error frames for refused messages, /metrics.
type fakeServe struct {
	t *testing.T
	// refuseEvery makes every n-th message of a socket an error frame (rate_limited) with no
	// reply; 0 refuses none.
	refuseEvery int
	// silent never answers messages; starve never answers those of this session token.
	silent bool
	starve string
	// delay is the model's time per reply.
	delay time.Duration

	tokens  atomic.Int64
	offset  atomic.Int64
	open    atomic.Int64
	mu      sync.Mutex
	remotes map[string]int // source IPs of the sockets
	conns   []*websocket.Conn
	firsts  map[string]time.Time // when each session token's first message came
}

// dropAll cuts every socket without a close handshake (a crashed serve).
func (f *fakeServe) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.CloseNow()
	}
}

func newFakeServe(t *testing.T, f *fakeServe) *httptest.Server {
	f.t = t
	f.remotes = map[string]int{}
	f.firsts = map[string]time.Time{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		n := f.tokens.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"token": fmt.Sprintf("tok%d", n), "name": r.URL.Query().Get("name"), "messages": []any{}})
	})
	mux.HandleFunc("GET /chat", f.chat)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# HELP chatbot_web_sockets_open x\nchatbot_web_sockets_open %d\ngo_goroutines 42\nprocess_resident_memory_bytes 1.5e+07\n", f.open.Load())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeServe) chat(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("token") == "" {
		http.Error(w, "no token", http.StatusBadRequest)
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	f.mu.Lock()
	f.remotes[host]++
	f.mu.Unlock()
	stream := r.URL.Query().Get("stream") == "1"
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.conns = append(f.conns, conn)
	f.mu.Unlock()
	f.open.Add(1)
	defer f.open.Add(-1)
	ctx := r.Context()
	var wmu sync.Mutex
	write := func(v map[string]any) {
		data, _ := json.Marshal(v)
		wmu.Lock()
		defer wmu.Unlock()
		conn.Write(ctx, websocket.MessageText, data)
	}
	off := func() string {
		return strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + strconv.FormatInt(f.offset.Add(1), 10)
	}
	for n := 1; ; n++ {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var cmd struct {
			Type     string `json:"type"`
			Msg      string `json:"msg"`
			ClientID string `json:"client_id"`
		}
		if json.Unmarshal(data, &cmd) != nil {
			f.t.Errorf("bench sent a frame that is not a JSON command: %q", data)
			return
		}
		if cmd.Type != "message" || cmd.Msg == "" || cmd.ClientID == "" {
			f.t.Errorf("bench sent %q", data)
		}
		if n == 1 {
			f.mu.Lock()
			f.firsts[r.URL.Query().Get("token")] = time.Now()
			f.mu.Unlock()
		}
		if f.refuseEvery > 0 && n%f.refuseEvery == 0 {
			write(map[string]any{"type": "error", "code": "rate_limited", "msg": "slow down", "client_id": cmd.ClientID})
			continue
		}
		id := "m" + strconv.Itoa(n)
		if stream {
			write(map[string]any{"type": "ack", "id": id, "client_id": cmd.ClientID, "offset": off()})
		}
		if f.silent || r.URL.Query().Get("token") == f.starve {
			continue
		}
		go func() {
			if f.delay > 0 {
				time.Sleep(f.delay) // the model thinking
			}
			if stream {
				write(map[string]any{"type": "delta", "reply_to": id, "text": "echo: ", "offset": off()})
			}
			write(map[string]any{"type": "message", "id": "r" + id, "role": "bot", "msg": "echo: " + cmd.Msg, "reply_to": id, "offset": off()})
		}()
	}
}
