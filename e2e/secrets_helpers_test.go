package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"chatbot/pkg/chat"

	"github.com/coder/websocket"
)

// This file holds what TestE2ESecrets needs besides its flows: the secrets' spellings and the
// scan for them, capture of command output, and a bare WebSocket and HTTP client that keeps
// every error it is answered with.

// randomHex is n random bytes in hex: the distinctive core of a secret, which every spelling
// of it (raw, percent-encoded, JSON-escaped) keeps as it is.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// needle is one spelling of a secret to look for.
type needle struct {
	what string // "session token", "API key", "Redis password"
	form string // "raw", "percent-encoded", ...
	text string
}

// spellings are the ways secret can show up in a log or an error: as given, percent-encoded
// for a query, a path or a URL's user info, JSON-escaped, and its random core alone (which
// catches any other escaping of the rest).
func spellings(what, secret, core string) []needle {
	userinfo := strings.TrimPrefix(url.UserPassword("u", secret).String(), "u:")
	js, _ := json.Marshal(secret)
	forms := []needle{
		{what, "raw", secret},
		{what, "query-escaped", url.QueryEscape(secret)},
		{what, "path-escaped", url.PathEscape(secret)},
		{what, "userinfo-escaped", userinfo},
		{what, "JSON-escaped", string(js[1 : len(js)-1])},
		{what, "random core", core},
	}
	seen := map[string]bool{}
	var out []needle
	for _, n := range forms {
		if k := strings.ToLower(n.text); n.text != "" && !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out
}

// captured is the text of one output: a process's log, a command's stdout or stderr, the body
// of an HTTP error, the error frames and close reasons a client got.
type captured struct {
	name string
	text string
}

// findSecrets returns, for every line of outs holding a needle (case-insensitively), where it
// is and what it holds, the line shown with every needle replaced by [what].
func findSecrets(outs []captured, needles []needle) []string {
	lower := make([]string, len(needles))
	for i, n := range needles {
		lower[i] = strings.ToLower(n.text)
	}
	var hits []string
	for _, out := range outs {
		for i, line := range strings.Split(out.text, "\n") {
			l := strings.ToLower(line)
			var found []string
			for j, n := range needles {
				if strings.Contains(l, lower[j]) {
					found = append(found, n.what+" ("+n.form+")")
				}
			}
			if len(found) > 0 {
				hits = append(hits, fmt.Sprintf("%s:%d: %s in: %s", out.name, i+1, strings.Join(found, ", "), redact(line, needles)))
			}
		}
	}
	return hits
}

// redact replaces every needle in line by [what] (the longest spellings first, so that a
// shorter one inside them goes too) and shortens it to 400 bytes.
func redact(line string, needles []needle) string {
	for _, n := range needles {
		line = regexp.MustCompile("(?i)"+regexp.QuoteMeta(n.text)).ReplaceAllLiteralString(line, "["+n.what+"]")
	}
	if len(line) > 400 {
		line = line[:400] + "..."
	}
	return line
}

// cmdResult is what a chatbot command printed and how it ended.
type cmdResult struct {
	stdout, stderr string
	code           int // exit code; -1 when it did not exit within its time
}

// runChatbot runs the binary with args as startProc would (an empty directory, the parent's
// environment minus CHATBOT_*, plus vars) and waits up to 60s for it.
func runChatbot(ctx context.Context, dir string, vars env, args ...string) cmdResult {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHATBOT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cmdResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.code = -1
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		res.code = -1
		res.stderr += "\n(could not run: " + err.Error() + ")"
	}
	return res
}

// readFile is the content of path ("" when it cannot be read: the caller's checks for
// expected lines then fail).
func readFile(path string) string {
	b, _ := os.ReadFile(filepath.Clean(path))
	return string(b)
}

// notes collects the answers a client got that are errors (error frames, close reasons,
// refused upgrades, HTTP error bodies): they must not hold secrets either.
type notes struct {
	mu    sync.Mutex
	lines []string
}

func (n *notes) add(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, fmt.Sprintf(format, args...))
}

func (n *notes) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n")
}

// wsConn is a client socket that notes every error frame and close reason it gets.
type wsConn struct {
	*websocket.Conn
	errs *notes
}

// wsDial opens /chat on base with q, the token in Authorization: Bearer when bearer is set and
// Origin when origin is.
func wsDial(ctx context.Context, base string, q url.Values, bearer, origin string, errs *notes) (*wsConn, error) {
	h := http.Header{}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(base, "http")+"/chat?"+q.Encode(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil {
			errs.add("upgrade refused: %d %s", resp.StatusCode, err)
		}
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	return &wsConn{Conn: conn, errs: errs}, nil
}

// next reads one frame as an event.
func (c *wsConn) next(ctx context.Context) (chat.Event, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, data, err := c.Read(rctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			c.errs.add("close %d %s", ce.Code, ce.Reason)
		}
		return chat.Event{}, err
	}
	var ev chat.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("undecodable frame %q: %w", data, err)
	}
	if ev.Type == chat.FrameError {
		c.errs.add("%s", data)
	}
	return ev, nil
}

// until reads frames until one satisfies ok, and returns it.
func (c *wsConn) until(ctx context.Context, what string, ok func(chat.Event) bool) (chat.Event, error) {
	for {
		ev, err := c.next(ctx)
		if err != nil {
			return ev, fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok(ev) {
			return ev, nil
		}
	}
}

// closed reads until the server closes the socket and returns how.
func (c *wsConn) closed(ctx context.Context) (websocket.CloseError, error) {
	for {
		_, err := c.next(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce, nil
		}
		return ce, fmt.Errorf("socket ended without a close frame: %w", err)
	}
}

// text writes one text frame.
func (c *wsConn) text(ctx context.Context, s string) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, []byte(s))
}

// command writes one JSON command.
func (c *wsConn) command(ctx context.Context, cmd chat.Command) error {
	b, _ := json.Marshal(cmd)
	return c.text(ctx, string(b))
}

// httpCall makes one request and returns the status, the Retry-After header and the body.
func httpCall(ctx context.Context, method, u string, hdr http.Header, body string) (int, string, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, method, u, rd)
	if err != nil {
		return 0, "", "", err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b), nil
}
