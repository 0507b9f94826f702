package ui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/auth"
	"chatbot/pkg/devredis"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"
	"chatbot/pkg/worker"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// This file is the browser tests' harness: one headless Chromium for the whole test binary,
// a private browser context (own storage) per test, and per test the real stack of `chatbot
// dev` (web tier, workers, echo model) on the test Redis with a key prefix of its own, behind
// a TCP proxy that can cut every connection like a network failure.

// chromiumPath is Debian's chromium (`make test` installs it when missing).
const chromiumPath = "/usr/bin/chromium"

var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	browserStop func()
)

func TestMain(m *testing.M) {
	code := redistest.Wrap(m).Run()
	if browserStop != nil {
		browserStop()
	}
	os.Exit(code)
}

// browser starts the shared Chromium on first use.
func browser(t *testing.T) context.Context {
	t.Helper()
	browserOnce.Do(func() {
		if _, err := os.Stat(chromiumPath); err != nil {
			browserErr = fmt.Errorf("%s: %w (run `make test`, which installs Debian's chromium)", chromiumPath, err)
			return
		}
		dir, err := os.MkdirTemp("", "chatbot-chromium-")
		if err != nil {
			browserErr = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.UserDataDir(dir),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-background-timer-throttling", true),
			chromedp.Flag("disable-backgrounding-occluded-windows", true),
			chromedp.WindowSize(1024, 768),
		)
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		browserStop = func() {
			cancelBrowser()
			cancelAlloc()
			os.RemoveAll(dir)
		}
		// Start the browser now, so each test only opens a tab.
		if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
			browserErr = fmt.Errorf("start %s: %w", chromiumPath, err)
			return
		}
		browserCtx = bctx
	})
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	return browserCtx
}

// page is one tab in a browser context of its own (its own localStorage), closed when the
// test ends. Uncaught JavaScript exceptions and Content-Security-Policy violations fail the
// test.
type page struct {
	t   *testing.T
	ctx context.Context
}

func newPage(t *testing.T) *page {
	t.Helper()
	return openTab(t, browser(t), chromedp.WithNewBrowserContext())
}

// tab opens another tab in p's browser context: the same storage, as a user's second tab.
func (p *page) tab() *page {
	p.t.Helper()
	return openTab(p.t, p.ctx)
}

func openTab(t *testing.T, parent context.Context, opts ...chromedp.ContextOption) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	// The first action opens the tab, which lives as long as the context of that call: give
	// it the page's own context, not one with a deadline.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Errorf("uncaught exception in the page: %s", describeException(ev.ExceptionDetails))
		case *log.EventEntryAdded:
			if ev.Entry.Source == log.EntrySourceSecurity {
				t.Errorf("security error in the page: %s", ev.Entry.Text)
			}
		case *cdppage.EventJavascriptDialogOpening:
			t.Errorf("the page opened a dialog: %s %q", ev.Type, ev.Message)
			go chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
				return err
			}))
		}
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func describeException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

// do runs actions with a deadline.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// screenshot captures the viewport as PNG.
func (p *page) screenshot() []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	return png
}

// eval evaluates a JavaScript expression into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls the JavaScript condition cond until it is true, failing the test after
// within. what says what is awaited; state, when not empty, is an expression whose value is
// printed on failure.
func (p *page) waitFor(within time.Duration, what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s (%s); last error %v\nmessages: %+v\nconnection: %q notice: %q",
				within, what, cond, err, p.messagesNoFail(), p.textNoFail("#conn-text"), p.textNoFail("#notice:not([hidden]) #notice-text"))
		}
		pause(10 * time.Millisecond)
	}
}

// pause waits between two polls of the page (never to wait for an event by itself).
func pause(d time.Duration) { <-time.After(d) }

// msg is a message bubble as the page shows it.
type msg struct {
	Role      string `json:"role"`
	Text      string `json:"text"`
	State     string `json:"state"`
	ID        string `json:"id"`
	Streaming bool   `json:"streaming"`
	Status    string `json:"status"`
	Time      string `json:"time"`
}

// messagesJS reads the messages; text is what a message shows (its Markdown rendered), without
// the white space around it.
const messagesJS = `[...document.querySelectorAll('#messages > li')].map(li => ({
  role: li.dataset.role || '', text: li.querySelector('.text').textContent.trim(), state: li.dataset.state || '',
  id: li.dataset.id || '', streaming: li.classList.contains('streaming'),
  status: li.querySelector('.status').textContent, time: li.querySelector('time').textContent }))`

func (p *page) messages() []msg {
	p.t.Helper()
	return eval[[]msg](p, messagesJS)
}

func (p *page) messagesNoFail() []msg {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[[]msg](messagesJS))
	return v
}

func (p *page) textNoFail(sel string) string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel)))
	return v
}

// visible is a JavaScript condition: the element is shown.
func visible(sel string) string {
	return fmt.Sprintf(`(e => e && !e.closest('[hidden]') && e.getClientRects().length > 0)(document.querySelector(%q))`, sel)
}

// start opens the stack's page and creates a session named name from the start page.
func (p *page) start(s *stack, name string) {
	p.t.Helper()
	p.do(chromedp.Navigate(s.url))
	p.waitFor(10*time.Second, "the start page", visible("#name"))
	p.do(chromedp.SendKeys(chromedp.ID("name"), name), pressEnter)
	p.waitFor(10*time.Second, "the chat page", visible("#input")+` && document.querySelector('#conn').dataset.state === 'open'`)
}

// send types text into the composer and presses Enter.
func (p *page) send(text string) {
	p.t.Helper()
	// SendKeys types rune by rune; a long text goes in as a value.
	if len(text) > 200 {
		p.do(chromedp.SetValue(chromedp.ID("input"), text), chromedp.Focus(chromedp.ID("input")), pressEnter)
		return
	}
	p.do(chromedp.SendKeys(chromedp.ID("input"), text), pressEnter)
}

// pressEnter presses Enter in the focused element as a keyboard does: one keydown that
// carries the text "\r" (so a handler that prevents its default leaves no newline), then
// keyup. chromedp.SendKeys sends the "\r" as a separate char event, which a prevented keydown
// does not cancel.
var pressEnter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	down := input.DispatchKeyEventParams{
		Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", UnmodifiedText: "\r",
		WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
	}
	if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
		return err
	}
	up := down
	up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
	_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
	return err
})

// token is the session token of the conversation the page has open.
func (p *page) token() string {
	p.t.Helper()
	return eval[string](p, `localStorage.getItem('chatbot.current') || ''`)
}

// stackOptions shape one test's stack.
type stackOptions struct {
	// Embedded runs on the in-memory Redis of `chatbot dev` instead of the test Redis.
	Embedded          bool
	EchoDelay         time.Duration
	SessionTTL        time.Duration
	MaxMessageBytes   int
	MessagesPerMinute int
	// Model answers instead of the echo model.
	Model llm.Model
	// JWTSecret runs auth.mode jwt: JWTs signed with it (HS256, sign) are the users'; no
	// leeway, so a JWT ends exactly at its exp.
	JWTSecret []byte
	// FrameAncestors are the origins that may frame the page (server.frame_ancestors).
	FrameAncestors []string
}

// stack is the dev stack of one test: its store, web servers (one at a time serves, behind
// the proxy) and workers.
type stack struct {
	t     *testing.T
	opt   stackOptions
	st    *store.Store
	log   *slog.Logger
	url   string // through the proxy
	proxy *proxy
	auth  *auth.Verifier // auth.mode jwt, else nil

	mu  sync.Mutex
	web *webServer // the one the proxy sends to
}

// webServer is one running web tier.
type webServer struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func newStack(t *testing.T, opt stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, opt: opt}
	sopt := store.Options{SessionTTL: opt.SessionTTL, Partitions: 2}
	if opt.Embedded {
		mem, err := devredis.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mem.Close)
		st, err := store.Open(context.Background(), mem.StoreOptions(sopt))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		s.st = st
	} else {
		// The single node: the cluster is the store's and the web tier's tests' business.
		s.st = storetest.Open(t, storetest.Single(t), sopt)
	}
	s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		s.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if opt.JWTSecret != nil {
		v, err := auth.New(auth.Options{Secret: opt.JWTSecret, Logger: s.log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		s.auth = v
	}
	s.web = s.startWeb()
	var model llm.Model = llm.Echo{Delay: opt.EchoDelay}
	if opt.Model != nil {
		model = opt.Model
	}
	wk, err := worker.New(worker.Options{
		Store: s.st, Model: model, Logger: s.log,
		Name: "browser", History: 10, Block: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	go func() { workerDone <- wk.Run(ctx) }()
	s.proxy = newProxy(t, s.web.addr)
	s.url = "http://" + s.proxy.addr() + "/"
	t.Cleanup(func() {
		s.mu.Lock()
		w := s.web
		s.mu.Unlock()
		w.stop(t)
		cancel()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
		s.proxy.close()
	})
	return s
}

// startWeb starts a web tier on a free port.
func (s *stack) startWeb() *webServer {
	s.t.Helper()
	srv, err := web.New(web.Options{
		Store: s.st, Logger: s.log,
		MaxMessageBytes: s.opt.MaxMessageBytes, MessagesPerMinute: s.opt.MessagesPerMinute,
		Auth: s.auth, FrameAncestors: s.opt.FrameAncestors,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &webServer{addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- srv.Serve(ctx, ln) }()
	return w
}

func (w *webServer) stop(t *testing.T) {
	w.cancel()
	if err := <-w.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("web server: %v", err)
	}
}

// replaceWeb is a rolling deploy: a new web tier takes the new connections, then the old one
// shuts down, closing its sockets with 1001 (going away).
func (s *stack) replaceWeb() {
	s.t.Helper()
	next := s.startWeb()
	s.proxy.setTarget(next.addr)
	s.mu.Lock()
	old := s.web
	s.web = next
	s.mu.Unlock()
	old.stop(s.t)
}

// proxy forwards TCP connections to the web server; cut drops them all at once, as a
// network failure would (the browser sees close code 1006).
type proxy struct {
	t  *testing.T
	ln net.Listener

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	down   bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, target := p.down, p.target
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut closes every open connection; setDown(true) also refuses new ones until setDown(false).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

// setTarget sends new connections to addr; open ones stay where they are.
func (p *proxy) setTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// echoText is what the echo model answers to text.
func echoText(text string) string { return "echo: " + text }

// scripted is a model for the tests: it answers every message with Reply (or, when Reply is
// empty, the echo model's answer), word by word, a word every Step. With Hold set, it stops
// just before the first occurrence of HoldBefore in the reply until Hold is closed, so a test
// sees the page in the middle of a reply without racing the stream.
type scripted struct {
	Reply      string
	Step       time.Duration
	HoldBefore string
	Hold       chan struct{}
}

func (m scripted) Stream(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
	reply := m.Reply
	if reply == "" {
		reply = echoText(llm.LastUser(msgs))
	}
	held := m.Hold == nil
	cut := len(reply)
	if !held {
		if i := strings.Index(reply, m.HoldBefore); i >= 0 {
			cut = i
		}
	}
	var sb strings.Builder
	for _, w := range llm.Words(reply) {
		if !held && sb.Len()+len(w) > cut {
			select {
			case <-m.Hold:
			case <-ctx.Done():
				return sb.String(), ctx.Err()
			}
			held = true
		}
		if m.Step > 0 {
			select {
			case <-time.After(m.Step):
			case <-ctx.Done():
				return sb.String(), ctx.Err()
			}
		}
		sb.WriteString(w)
		if err := onDelta(w); err != nil {
			return sb.String(), err
		}
	}
	return sb.String(), nil
}
