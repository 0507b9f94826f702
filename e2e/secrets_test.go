package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/llm/llmtest"
	"chatbot/pkg/store"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// Logs and errors never contain a session token, the API key or the Redis password. One
// redis-server with an ACL user made by store.ACLRules and a distinctive password, one serve
// and one work at log.level debug (work in the text format, serve in JSON), the openai provider
// against a fake API that insists on a distinctive key: then everything that logs or answers
// with an error happens — sessions made by HTTP and by `chatbot token`, chat over WebSocket with
// stream=1, resume with last_id, refresh, bad and unknown tokens on every route (query, Bearer,
// form and JSON body), a foreign Origin, too large and binary frames, socket, message and
// session limits, failing model calls (500, a 401 that quotes the key, a dropped stream, an
// error event) dead-lettered, a stopped reply, a session deleted under an open socket, a
// malformed and a refused request, Redis connections killed, Redis killed and restarted (with
// `chatbot healthcheck` meanwhile), SIGTERM, and `chatbot` commands given a wrong password, a
// dead address, a badly written URL, a bad flag. Then no line of any
// captured output (every log, stdout and stderr, HTTP error body, error frame and close reason)
// holds any spelling of any of the secrets.
func TestE2ESecrets(t *testing.T) {
	t.Parallel()
	r := newSecretRun(t)
	r.cliToken()
	r.badTokens()
	r.chat()
	r.frameLimits()
	r.socketLimit()
	r.rateLimit()
	r.modelFailures()
	r.stopReply()
	r.deleteWhileOpen()
	r.jwtFlows()
	r.badRequests()
	r.killConnections()
	r.redisRestart()
	r.sessionLimit()
	r.sigterm()
	r.badRedisCommands()
	r.checkModelCalls()
	r.checkOutputs()
}

// secretSessionsPerIP is limits.sessions_per_minute_per_ip of the run: above the sessions the
// flows make, so that only sessionLimit reaches it.
const secretSessionsPerIP = 20

// secretRun is one run of TestE2ESecrets: its processes, their secrets, and everything to scan.
type secretRun struct {
	t        *testing.T
	ctx      context.Context
	node     *redistest.Node
	fake     *llmtest.Server
	serve    *proc
	work     *proc
	vars     env
	dir      string // working directory of the commands
	pw       string // the Redis password
	pwCore   string
	apiKey   string
	keyCore  string
	redisURL string
	badAuth  atomic.Int64 // model calls without the API key
	answers  notes        // error frames, close reasons, HTTP error bodies

	mu      sync.Mutex
	tokens  []string   // every session token made, and every well-formed one a client sent
	outputs []captured // command outputs and metrics pages
	alice   string     // the session most flows use
	after   string     // a session made after the Redis restart
	jwt     jwtState   // auth.mode jwt: secrets_jwt_test.go
}

func newSecretRun(t *testing.T) *secretRun {
	r := &secretRun{t: t, ctx: testContext(t, 4*time.Minute), dir: t.TempDir()}
	r.pwCore, r.keyCore = randomHex(12), randomHex(16)
	// Characters that must be percent-encoded in a URL's user info, and one that JSON escapes.
	r.pw = "E2Epw" + r.pwCore + "/:@+&%~"
	r.apiKey = "sk-e2e-" + r.keyCore
	r.node = startRedis(t, "secrets", append([]string{"--appendonly", "yes", "--user"}, store.ACLRules("chatbot", r.pw)...)...)
	r.redisURL = r.urlWith(r.pw, r.node.Addr())
	r.fake = llmtest.New(t, r.model)
	r.vars = env{
		"CHATBOT_REDIS_URL":                         r.redisURL,
		"CHATBOT_LLM_PROVIDER":                      "openai",
		"CHATBOT_LLM_BASE_URL":                      r.fake.URL,
		"CHATBOT_LLM_API_KEY":                       r.apiKey,
		"CHATBOT_LLM_MODEL":                         "fake-model",
		"CHATBOT_LLM_MAX_RETRIES":                   "1",
		"CHATBOT_LOG_LEVEL":                         "debug",
		"CHATBOT_LOG_FORMAT":                        "json",
		"CHATBOT_STREAM_PARTITIONS":                 "2",
		"CHATBOT_WORKER_CLAIM_IDLE":                 "2s",
		"CHATBOT_WORKER_SHUTDOWN_TIMEOUT":           "10s",
		"CHATBOT_SERVER_SHUTDOWN_TIMEOUT":           "10s",
		"CHATBOT_LIMITS_MESSAGES_PER_MINUTE":        "4",
		"CHATBOT_LIMITS_SOCKETS_PER_SESSION":        "3",
		"CHATBOT_LIMITS_MAX_MESSAGE_BYTES":          "1024",
		"CHATBOT_LIMITS_SESSIONS_PER_MINUTE_PER_IP": strconv.Itoa(secretSessionsPerIP),
	}
	r.serve = startServe(t, "serve", r.vars)
	r.work = startWork(t, "work", r.vars.with("CHATBOT_LOG_FORMAT", "text"), 2)
	return r
}

// urlWith is the redis.url of the ACL user with password at addr, percent-encoded as
// SECURITY.md asks.
func (r *secretRun) urlWith(password, addr string) string {
	return (&url.URL{Scheme: "redis", User: url.UserPassword("chatbot", password), Host: addr, Path: "/0"}).String()
}

// model is the fake API: it refuses a call without the API key, and answers by the first word
// of the user's message: FAIL500 (HTTP 500), ECHOKEY (401 quoting the key it got), DROP (the
// stream ends midway), STREAMERR (an error event midway), SLOW (a word every 50ms until the
// caller goes), else "echo: <message>".
func (r *secretRun) model(w http.ResponseWriter, req *http.Request, got llmtest.Request, n int) {
	if got.Auth != "Bearer "+r.apiKey {
		r.badAuth.Add(1)
		llmtest.Fail(w, http.StatusUnauthorized, "missing or wrong API key")
		return
	}
	last := ""
	for _, m := range got.Messages {
		if m.Role == "user" {
			last = m.Content
		}
	}
	switch first, _, _ := strings.Cut(last, " "); first {
	case "FAIL500":
		llmtest.Fail(w, http.StatusInternalServerError, "the fake model is down")
	case "ECHOKEY":
		// Some OpenAI-compatible servers quote the key they refuse.
		llmtest.Fail(w, http.StatusUnauthorized, "Incorrect API key provided: "+strings.TrimPrefix(got.Auth, "Bearer "))
	case "DROP":
		llmtest.Start(w)
		llmtest.Chunk(w, `{"role":"assistant","content":""}`, "")
		llmtest.Text(w, "cut ")
	case "STREAMERR":
		llmtest.Start(w)
		llmtest.Text(w, "half ")
		llmtest.StreamError(w, "the fake model broke")
	case "SLOW":
		llmtest.Start(w)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range 600 {
			select {
			case <-req.Context().Done():
				return
			case <-tick.C:
				llmtest.Text(w, "word ")
			}
		}
		llmtest.Finish(w, "stop")
		llmtest.Done(w)
	default:
		llmtest.Echo(w, req, got, n)
	}
}

func (r *secretRun) addToken(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, tok)
}

func (r *secretRun) capture(name, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs = append(r.outputs, captured{name, text})
}

// session makes a session with POST /token.
func (r *secretRun) session(name string) string {
	r.t.Helper()
	tok, err := createSession(r.ctx, r.serve.URL(), name)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addToken(tok)
	return tok
}

// ws opens a socket on the serve; bearer, when set, carries the token instead of q.
func (r *secretRun) ws(q url.Values, bearer string) *wsConn {
	r.t.Helper()
	c, err := wsDial(r.ctx, r.serve.URL(), q, bearer, "", &r.answers)
	if err != nil {
		r.t.Fatalf("open a socket: %v", err)
	}
	return c
}

func streamOf(tok string) url.Values { return url.Values{"token": {tok}, "stream": {"1"}} }

// converse sends msg with a client_id and returns its ack and what ended it: the reply
// (message) or an error frame about it. Like a real client it resends (same client_id) a
// message refused as unavailable: the first command on a Redis connection that was just
// killed fails.
func (r *secretRun) converse(c *wsConn, msg string) (ack, end chat.Event) {
	r.t.Helper()
	cmd := chat.Command{Type: chat.CmdMessage, Msg: msg, ClientID: uuid.NewString()}
	for try := 1; ; try++ {
		if err := c.command(r.ctx, cmd); err != nil {
			r.t.Fatalf("send %q: %v", msg, err)
		}
		var err error
		ack, err = c.until(r.ctx, "the ack of "+msg, func(ev chat.Event) bool {
			return (ev.Type == chat.FrameAck || ev.Type == chat.FrameError) && ev.ClientID == cmd.ClientID
		})
		if err != nil {
			r.t.Fatal(err)
		}
		if ack.Type == chat.FrameAck {
			break
		}
		if ack.Code != "unavailable" || try == 5 {
			r.t.Fatalf("send %q: refused with %+v (try %d)", msg, ack, try)
		}
		r.t.Logf("send %q: refused as unavailable (try %d): resending", msg, try)
		select {
		case <-time.After(time.Duration(try) * 100 * time.Millisecond):
		case <-r.ctx.Done():
			r.t.Fatal(r.ctx.Err())
		}
	}
	end, err := c.until(r.ctx, "the answer to "+msg, func(ev chat.Event) bool {
		return (ev.Type == chat.FrameMessage || ev.Type == chat.FrameError) && ev.ReplyTo == ack.ID
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return ack, end
}

// expectClose waits for the server to close c with code.
func (r *secretRun) expectClose(c *wsConn, what string, code websocket.StatusCode) websocket.CloseError {
	r.t.Helper()
	ce, err := c.closed(r.ctx)
	if err != nil || ce.Code != code {
		r.t.Fatalf("%s: socket ended with %v (%v), want close %d", what, ce, err, code)
	}
	return ce
}

// call makes an HTTP request to the serve, keeps the body of an error, and checks the status.
func (r *secretRun) call(method, path string, hdr http.Header, body string, want int) string {
	r.t.Helper()
	return r.callOn(r.serve.URL(), method, path, hdr, body, want)
}

// callOn is call on the server at base.
func (r *secretRun) callOn(base, method, path string, hdr http.Header, body string, want int) string {
	r.t.Helper()
	code, _, got, err := httpCall(r.ctx, method, base+path, hdr, body)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, redact(path, r.needles()), err)
	}
	if code >= 300 {
		r.answers.add("%s %d %s", method, code, got)
	}
	if code != want {
		r.t.Fatalf("%s %s: %d %s, want %d", method, redact(path, r.needles()), code, redact(got, r.needles()), want)
	}
	return got
}

func bearerHeader(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

var (
	formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonHeader = http.Header{"Content-Type": {"application/json"}}
)

// checkModelCalls: the worker called the fake API, always with the API key.
func (r *secretRun) checkModelCalls() {
	calls := r.fake.Requests()
	if len(calls) == 0 || r.badAuth.Load() != 0 {
		r.t.Fatalf("the fake API got %d calls, %d without the API key", len(calls), r.badAuth.Load())
	}
}

// needles are every spelling of every secret of the run.
func (r *secretRun) needles() []needle {
	out := append(spellings("Redis password", r.pw, r.pwCore), spellings("API key", r.apiKey, r.keyCore)...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tok := range r.tokens {
		out = append(out, spellings("session token", tok, tok[len(tok)-12:])...)
	}
	return append(out, r.jwtNeedles()...)
}

// checkOutputs scans every captured output for the secrets, after checking that the capture
// holds what the run must have logged (an empty or truncated capture cannot pass) and that the
// scan finds a secret planted in it.
func (r *secretRun) checkOutputs() {
	r.capture("serve log", readFile(r.serve.log))
	r.capture("work log", readFile(r.work.log))
	r.capture("serve-jwt log", readFile(r.jwt.serve.log))
	r.capture("error answers", r.answers.String())
	byName := map[string]string{}
	for _, o := range r.outputs {
		byName[o.name] = o.text
	}
	for name, wants := range map[string][]string{
		"serve log": {`"level":"DEBUG"`, `"msg":"serving"`, `"msg":"session created"`, `"msg":"socket open"`,
			`"msg":"session deleted"`, `"msg":"sending a message failed"`, `"msg":"stop failed"`,
			`"msg":"checking a session failed"`, `"msg":"creating the session failed"`, `"msg":"reading the session failed"`,
			`"msg":"deleting the session failed"`,
			`"msg":"notification subscriber lost its Redis connection; reconnecting"`, `"msg":"websocket upgrade refused"`,
			`"msg":"stopped"`},
		"work log": {`msg="worker started"`, `msg=model`, `msg="model call failed"`,
			`msg="the model failed past its retries; the user gets an error"`,
			`msg="dead-lettering a request that cannot be read"`, `msg="Redis refuses to work on the session; dead-lettering the request"`,
			`msg="reading requests failed"`, `msg="worker stopped"`},
		"error answers": {chat.CodeModelError, chat.CodeRateLimited, "Session deleted", "Too many sockets", "upgrade refused: 403",
			"close 1009", "close 1003", "close 1013", "close 1001", "POST 503", "POST /token 429",
			"close 1008 Authentication required", "close 1008 Credentials expired", "Token expired", "Invalid token: bad signature"},
		"chatbot token, wrong password (stderr)": {"WRONGPASS"},
		"serve-jwt log": {`"msg":"credentials refused"`, `"reason":"token expired"`, `"reason":"invalid token: bad signature"`,
			`"reason":"invalid token: algorithm not allowed"`, `"msg":"closing a socket whose credentials expired"`, `"msg":"session created"`},
	} {
		for _, want := range wants {
			if !strings.Contains(byName[name], want) {
				r.t.Errorf("%s: no %s in it: the run did not do what it must check", name, want)
			}
		}
	}

	needles := r.needles()
	pwJSON, _ := json.Marshal(r.pw)
	r.mu.Lock()
	outs := append([]captured(nil), r.outputs...)
	tokens := append([]string(nil), r.tokens...)
	r.mu.Unlock()
	if len(tokens) < secretSessionsPerIP {
		r.t.Errorf("only %d tokens to look for", len(tokens))
	}

	size := 0
	for _, o := range outs {
		size += len(o.text)
	}
	if hits := findSecrets(outs, needles); len(hits) > 0 {
		r.t.Fatalf("%d lines hold a secret:\n%s", len(hits), strings.Join(first(hits, 30), "\n"))
	}
	// The scan finds each secret planted in the (clean) logs of this run, whatever its spelling.
	planted := captured{"planted", byName["serve log"] + "\n" + strings.Join([]string{
		`{"msg":"leak","err":"redis ` + r.redisURL + `"}`,
		`{"msg":"leak","session":"` + tokens[len(tokens)-1] + `"}`,
		`msg="leak" authorization="Bearer ` + r.apiKey + `"`,
		`{"msg":"leak","password":` + string(pwJSON) + `}`,
		`chat:{` + strings.ToUpper(tokens[0]) + `}:out`,
	}, "\n")}
	hits := findSecrets([]captured{planted}, needles)
	if len(hits) != 5 {
		r.t.Fatalf("the scan found %d planted secrets, want 5:\n%s", len(hits), strings.Join(hits, "\n"))
	}
	if again := findSecrets([]captured{{"report", strings.Join(hits, "\n")}}, needles); len(again) != 0 {
		r.t.Fatalf("the scan's report is not redacted:\n%s", strings.Join(again, "\n"))
	}

	r.t.Logf("no secret in %d outputs (%d KiB): %d session tokens, the API key and the Redis password, %d spellings; %d model calls, all with the key",
		len(outs), size/1024, len(tokens), len(needles), len(r.fake.Requests()))
}
