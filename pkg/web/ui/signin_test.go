package ui_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/chat"
	"chatbot/pkg/store/storetest"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

// The page with auth.mode jwt (docs/PROTOCOL.md, "The web page"): signed in by a link
// (#access_token=) or by the page that frames it (postMessage), its list from GET /sessions,
// a JWT that expires under an open socket renewed with nothing lost, no JWT in any URL, and
// nothing of another user's on the page.

// testSecret is the HMAC key of the jwt stacks' JWTs.
var testSecret = []byte("the browser tests' HS256 key, 32 bytes or more")

// sign is a JWT of user sub named name, valid for ttl.
func sign(t *testing.T, sub, name string, ttl time.Duration) string {
	t.Helper()
	jwt, err := auth.SignHS256(testSecret, "", "", sub, name, time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return jwt
}

// apiSession is a session made by another client of user jwt (a phone, say): POST /token,
// then a first message over the socket, answered.
func apiSession(t *testing.T, s *stack, jwt, text string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"token", nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sess chat.Session
	err = json.NewDecoder(res.Body).Decode(&sess)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST /token: %d %v", res.StatusCode, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"chat?token="+sess.Token,
		&websocket.DialOptions{Subprotocols: []string{"chatbot", "bearer." + jwt}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the reply to %q: %v", text, err)
		}
		var f struct{ Type string }
		if json.Unmarshal(data, &f) == nil && f.Type == "message" {
			return sess.Token
		}
	}
}

// netLog is what a tab asked of the network: every URL (HTTP requests, WebSockets), the
// Authorization headers its requests carried and the subprotocols its WebSockets offered.
type netLog struct {
	mu        sync.Mutex
	urls      []string
	auths     []string
	protocols []string
}

// recordNetwork starts recording the tab's requests (its frames' included).
func (p *page) recordNetwork() *netLog {
	p.t.Helper()
	n := &netLog{}
	if err := chromedp.Listen(p.ctx, func(ev any) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			n.urls = append(n.urls, ev.Request.URL)
			if a := header(ev.Request.Headers, "Authorization"); a != "" {
				n.auths = append(n.auths, a)
			}
		case *network.EventWebSocketCreated:
			n.urls = append(n.urls, ev.URL)
		case *network.EventWebSocketWillSendHandshakeRequest:
			if v := header(ev.Request.Headers, "Sec-WebSocket-Protocol"); v != "" {
				n.protocols = append(n.protocols, v)
			}
		}
	}); err != nil {
		p.t.Fatal(err)
	}
	return n
}

// header is the value of a request header, whatever the case of its name.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if s, ok := v.(string); ok && strings.EqualFold(k, name) {
			return s
		}
	}
	return ""
}

// mark is the point of the log from which since looks.
type mark struct{ urls, auths, protocols int }

func (n *netLog) mark() mark {
	n.mu.Lock()
	defer n.mu.Unlock()
	return mark{len(n.urls), len(n.auths), len(n.protocols)}
}

// since is everything recorded after m, as one text per kind.
func (n *netLog) since(m mark) (urls, auths, protocols string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.urls[m.urls:], "\n"), strings.Join(n.auths[m.auths:], "\n"), strings.Join(n.protocols[m.protocols:], "\n")
}

// offered reports whether a WebSocket offered jwt as its bearer subprotocol.
func (n *netLog) offered(jwt string) bool {
	_, _, protocols := n.since(mark{})
	return strings.Contains(protocols, "chatbot, bearer."+jwt)
}

// checkNoJWTInURLs fails if any URL the tab asked for holds a JWT (any: each starts "eyJ",
// its JSON header in base64url; and jwts whole or their signature), and checks that jwts[0]
// travelled as it should: in Authorization headers and WebSocket subprotocols.
func checkNoJWTInURLs(t *testing.T, n *netLog, jwts ...string) {
	t.Helper()
	urls, auths, protocols := n.since(mark{})
	if !strings.Contains(urls, "/sessions") || !strings.Contains(urls, "/chat?") {
		t.Fatalf("the log misses the page's requests:\n%s", urls)
	}
	if strings.Contains(urls, "eyJ") {
		t.Errorf("a URL the page asked for holds a JWT:\n%s", urls)
	}
	for _, jwt := range jwts {
		if strings.Contains(urls, jwt[strings.LastIndexByte(jwt, '.')+1:]) {
			t.Errorf("a URL the page asked for holds a JWT's signature:\n%s", urls)
		}
	}
	if !strings.Contains(auths, "Bearer "+jwts[0]) || !strings.Contains(protocols, "chatbot, bearer."+jwts[0]) {
		t.Errorf("the JWT did not travel as Authorization and subprotocol:\n%s\n%s", auths, protocols)
	}
}

// goTo sends the tab to u without waiting for a load: a link that differs only in its
// fragment stays in the same document, which loads nothing.
func (p *page) goTo(u string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.Navigate, cdppage.NavigateParams{URL: u})
		return err
	}))
}

// view is where the chat page runs: the tab itself, or the frame of an embedding page (its
// first frame), which the test reads through an isolated world (the DOM and storage, not the
// page's globals), made once per document of the frame.
type view struct {
	p     *page
	frame bool
	world *runtime.ExecutionContextID // the frame's isolated world, once made
}

func (v view) run(expr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(v.p.ctx, 5*time.Second)
	defer cancel()
	if !v.frame {
		return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	}
	return chromedp.Run(ctx, chromedp.Action[[]byte](func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		if *v.world == 0 {
			tree, err := cdp.Call(ctx, tg, cdppage.GetFrameTree, cdp.Empty{})
			if err != nil {
				return nil, err
			}
			if len(tree.FrameTree.ChildFrames) == 0 {
				return nil, fmt.Errorf("the page has no frame yet")
			}
			w, err := cdp.Call(ctx, tg, cdppage.CreateIsolatedWorld, cdppage.CreateIsolatedWorldParams{
				FrameID: tree.FrameTree.ChildFrames[0].Frame.ID, WorldName: "test",
			})
			if err != nil {
				return nil, err
			}
			*v.world = w.ExecutionContextID
		}
		b, err := chromedp.Evaluate[[]byte](expr, func(p *runtime.EvaluateParams) { p.ContextID = *v.world })(ctx, tg)
		var exc *chromedp.ExceptionError
		if err != nil && !errors.As(err, &exc) {
			*v.world = 0 // the frame's document changed: a new world next time
		}
		return b, err
	}))
}

// evalIn evaluates expr where the chat page runs, into T.
func evalIn[T any](v view, expr string) T {
	v.p.t.Helper()
	var out T
	b, err := v.run(expr)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		v.p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return out
}

// waitFor polls the condition cond where the chat page runs.
func (v view) waitFor(within time.Duration, what, cond string) {
	v.p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := v.run("!!(" + cond + ")")
		if err == nil && string(b) == "true" {
			return
		}
		if time.Now().After(deadline) {
			state, _ := v.run(`({conn: document.querySelector('#conn-text').textContent, messages: ` + messagesJS +
				`, signin: document.querySelector('#signin').hidden, reauth: document.querySelector('#reauth').hidden})`)
			v.p.t.Fatalf("timed out after %s waiting for %s (%s); last error %v\npage: %s", within, what, cond, err, state)
		}
		pause(10 * time.Millisecond)
	}
}

// send writes text in the message box and sends it, as Enter does.
func (v view) send(text string) {
	v.p.t.Helper()
	evalIn[bool](v, `(i => (i.value = `+jsString(text)+`, document.querySelector('#composer').requestSubmit(), true))(document.querySelector('#input'))`)
}

// Conditions on the chat page.
const (
	connOpen  = `document.querySelector('#conn').dataset.state === 'open'`
	signedOut = `document.querySelector('#conn').dataset.state === 'signed-out' && !document.querySelector('#reauth').hidden && !document.querySelector('#composer').hidden`
)

func doneReplies(n int) string {
	return fmt.Sprintf(`document.querySelectorAll('#messages > li.bot[data-state="done"]').length === %d`, n)
}

// expireAndResume: a reply is being written when the page gets (from give) a JWT that
// expires in a few seconds; the connection is cut, so the page reconnects with it, and the
// server closes that socket when it expires. The page says the user must sign in again and
// keeps the conversation; a message is written meanwhile, and the reply ends on the server.
// Then give brings a new JWT: the page resumes where it stopped and shows every message and
// reply once, the one written while signed out answered too. hold holds the reply before the
// word "tail" until it is closed.
func expireAndResume(t *testing.T, s *stack, v view, n *netLog, give func(jwt string), hold chan struct{}) {
	t.Helper()
	ctx := context.Background()
	first := "write the first part, then the tail"
	v.send(first)
	v.waitFor(10*time.Second, "a partial reply", `[...document.querySelectorAll('#messages > li.bot.streaming .text')].some(e => e.textContent.includes('first'))`)
	tok := evalIn[string](v, `localStorage.getItem('chatbot.current')`)

	short := sign(t, "alice", "Alice", 5*time.Second)
	give(short)
	v.waitFor(10*time.Second, "the new JWT kept", `sessionStorage.getItem('chatbot.access_token') === `+jsString(short))
	if got := evalIn[string](v, `document.querySelector('#conn').dataset.state`); got != "open" {
		t.Fatalf("a new JWT disturbed the open socket: %s", got)
	}
	s.proxy.cut()
	storetest.Eventually(t, 10*time.Second, "a socket with the short JWT", func() bool { return n.offered(short) })
	v.waitFor(10*time.Second, "the socket with the short JWT", connOpen)

	v.waitFor(15*time.Second, "the page to ask for a new sign-in when the JWT expires", signedOut)
	if text := evalIn[string](v, `document.querySelector('#reauth-text').textContent`); !strings.Contains(text, "expired") {
		t.Fatalf("signed-out note %q does not say the sign-in expired", text)
	}
	second := "written while signed out"
	v.send(second)
	v.waitFor(5*time.Second, "the message waiting", `(m => m && m.dataset.state === 'sending')([...document.querySelectorAll('#messages > li.human')].pop())`)
	close(hold)
	storetest.Eventually(t, 10*time.Second, "the reply to end on the server", func() bool {
		h, _ := s.st.History(ctx, tok)
		return len(h) == 2
	})

	give(sign(t, "alice", "Alice", time.Hour))
	v.waitFor(20*time.Second, "both replies after the new sign-in", doneReplies(2)+` && `+connOpen+` && document.querySelector('#reauth').hidden`)
	got := evalIn[[]msg](v, messagesJS)
	checkConversation(t, got, []msg{
		{Role: "human", Text: first}, {Role: "bot", Text: echoText(first)},
		{Role: "human", Text: second}, {Role: "bot", Text: echoText(second)},
	})
}

// TestBrowserSignInLink: auth.mode jwt, the page opened by a link holding the JWT. The JWT
// leaves the address at once. An expired one (a 401 "Token expired") gets the sign-in page,
// which says so; a new link opened in the same tab signs the user in without a reload: the
// list is the user's sessions on the server (one made on another device shows and opens),
// and a new chat answers. Then another user's link in that tab starts over with only their
// conversations, and nothing asks for the first user's. No URL the page asks for holds a JWT.
func TestBrowserSignInLink(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{JWTSecret: testSecret})
	expired := sign(t, "alice", "Alice", -time.Minute)
	alice, bob := sign(t, "alice", "Alice", time.Hour), sign(t, "bob", "Bob", time.Hour)
	phone := "asked from my phone"
	phoneTok := apiSession(t, s, alice, phone)
	bobs := "bob's secret plan"
	apiSession(t, s, bob, bobs)

	p := newPage(t)
	n := p.recordNetwork()
	p.do(chromedp.Navigate(s.url + "#access_token=" + expired))
	p.waitFor(10*time.Second, "the sign-in page", visible("#signin")+` && document.querySelector('#signin-why').textContent === 'Your sign-in has expired.'`)
	if href := eval[string](p, `location.href`); href != s.url {
		t.Fatalf("the address is %q, want %q: the JWT stayed in it", href, s.url)
	}
	if got := eval[string](p, `sessionStorage.getItem('chatbot.access_token') || ''`); got != "" {
		t.Fatalf("the refused JWT is still kept: %q", got)
	}

	eval[bool](p, `window.sameDocument = true`)
	p.goTo(s.url + "#access_token=" + alice)
	p.waitFor(10*time.Second, "Alice's conversation from her phone", doneReplies(1)+` && `+connOpen)
	checkConversation(t, p.messages(), []msg{{Role: "human", Text: phone}, {Role: "bot", Text: echoText(phone)}})
	checkConvs(t, p, []conv{{Title: phone, Current: true}})
	if got := p.textNoFail("#side-user"); got != "Signed in as Alice" {
		t.Fatalf("the side panel says %q, want who is signed in", got)
	}
	if !eval[bool](p, `window.sameDocument === true && location.href === `+jsString(s.url)) {
		t.Fatal("the new link reloaded the page, or stayed in the address")
	}
	if got := eval[string](p, `sessionStorage.getItem('chatbot.access_token')`); got != alice {
		t.Fatalf("sessionStorage holds %q, want the JWT", got)
	}
	p.do(chromedp.Click(chromedp.ID("side-new")))
	p.waitFor(10*time.Second, "the new chat", `document.querySelectorAll('#convs > li').length === 2 && !document.querySelector('#messages').children.length && `+connOpen)
	p.send("hello again")
	p.waitFor(10*time.Second, "the reply", doneReplies(1))
	checkConvs(t, p, []conv{{Title: "hello again", Current: true}, {Title: phone}})
	aliceToks := eval[[]string](p, `[...document.querySelectorAll('#convs > li')].map(li => li.token || '')`)
	if len(aliceToks) != 2 || aliceToks[1] != phoneTok {
		t.Fatalf("Alice's list %q", aliceToks)
	}

	// Bob's link in the same tab: the page starts over, with his conversations only.
	before := n.mark()
	p.goTo(s.url + "#access_token=" + bob)
	p.waitFor(10*time.Second, "Bob's conversation", `document.querySelector('#chat-title').textContent === `+jsString(bobs)+` && `+doneReplies(1)+` && `+connOpen)
	checkConvs(t, p, []conv{{Title: bobs, Current: true}})
	if got := p.textNoFail("#side-user"); got != "Signed in as Bob" {
		t.Fatalf("the side panel says %q after Bob's link", got)
	}
	if eval[bool](p, `window.sameDocument === true`) {
		t.Fatal("another user's JWT did not reload the page")
	}
	urls, auths, _ := n.since(before)
	for _, tok := range aliceToks {
		if strings.Contains(urls, tok) {
			t.Errorf("Bob's page asked for Alice's session %s:\n%s", tok, urls)
		}
	}
	if strings.Contains(auths, alice) {
		t.Errorf("Bob's page sent Alice's JWT")
	}
	checkNoJWTInURLs(t, n, alice, bob, expired)
}

// embedHost serves the page of an application that embeds the chat (its origin is not the
// chat's): the chat in a frame, window.asked recording the page's requests for a JWT,
// give(jwt) posting one to it, and sibling(jwt) adding a second frame that posts a JWT to the
// chat frame (not its parent: the page must not take it).
func embedHost(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>host</title>
<iframe id="chat" src="%s" width="1000" height="700"></iframe>
<script>
const frame = document.getElementById('chat');
const chatOrigin = new URL(frame.src).origin;
window.asked = [];
window.addEventListener('message', (ev) => {
  if (ev.source === frame.contentWindow && ev.origin === chatOrigin && ev.data && ev.data.type === 'chatbot:token-expired') asked.push(ev.data.reason);
  if (ev.data && ev.data.type === 'sibling-sent') window.siblingSent = true;
});
function give(jwt) { frame.contentWindow.postMessage({type: 'chatbot:token', access_token: jwt}, chatOrigin); return true; }
function sibling(jwt) { const f = document.createElement('iframe'); f.src = '/sibling#' + jwt; document.body.append(f); return true; }
</script>`, r.URL.Query().Get("chat"))
	})
	mux.HandleFunc("GET /sibling", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><script>
parent.frames[0].postMessage({type: 'chatbot:token', access_token: location.hash.slice(1)}, '*');
parent.postMessage({type: 'sibling-sent'}, '*');
</script>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserSignInFrame: auth.mode jwt, the page in a frame of another origin listed in
// server.frame_ancestors. With no JWT it asks its parent for one (chatbot:token-expired,
// reason missing) and says the user must sign in; a JWT posted by another frame is ignored,
// the parent's is taken: the start page greets the user, a chat starts. A JWT expiring under
// the socket makes the page ask its parent again (reason expired), and the parent's new one
// resumes it with nothing lost. No URL holds a JWT; the other frame's JWT was never sent.
func TestBrowserSignInFrame(t *testing.T) {
	t.Parallel()
	host := embedHost(t)
	hold := make(chan struct{})
	s := newStack(t, stackOptions{JWTSecret: testSecret, FrameAncestors: []string{host.URL},
		Model: scripted{HoldBefore: "tail", Hold: hold}})
	alice, mallory := sign(t, "alice", "Alice", time.Hour), sign(t, "mallory", "Mallory", time.Hour)

	p := newPage(t)
	n := p.recordNetwork()
	v := view{p: p, frame: true, world: new(runtime.ExecutionContextID)}
	p.do(chromedp.Navigate(host.URL + "/?chat=" + url.QueryEscape(s.url)))
	p.waitFor(10*time.Second, "the page in the frame to ask for a JWT", `asked.length === 1 && asked[0] === 'missing'`)
	v.waitFor(5*time.Second, "the sign-in page", `!document.querySelector('#signin').hidden`)

	eval[bool](p, `sibling(`+jsString(mallory)+`)`)
	p.waitFor(10*time.Second, "the other frame to post its JWT", `window.siblingSent`)
	eval[bool](p, `give(`+jsString(alice)+`)`)
	v.waitFor(10*time.Second, "the start page, signed in", `!document.querySelector('#start').hidden && document.querySelector('#lede').textContent.includes('Signed in as Alice') && document.querySelector('#name').hidden`)
	evalIn[bool](v, `(document.querySelector('#start-button').click(), true)`)
	v.waitFor(10*time.Second, "the chat", `!document.querySelector('#chat').hidden && `+connOpen)

	give := func(jwt string) { eval[bool](p, `give(`+jsString(jwt)+`)`) }
	expireAndResume(t, s, v, n, give, hold)
	if got := eval[[]string](p, `asked`); len(got) != 2 || got[1] != "expired" {
		t.Fatalf("the parent was asked %q, want missing then expired", got)
	}
	_, auths, protocols := n.since(mark{})
	if strings.Contains(auths+protocols, mallory) {
		t.Fatal("the page took a JWT from a frame other than its parent")
	}
	checkNoJWTInURLs(t, n, alice, mallory)
}
