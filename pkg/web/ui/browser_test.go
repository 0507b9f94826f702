package ui_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/store/storetest"

	"github.com/chromedp/chromedp"
)

// TestBrowserChat: create a session from the start page, send three messages with Enter and
// see the three replies stream in (a partial reply is seen on the way), then reload and see
// the same conversation, once, in conversation order.
func TestBrowserChat(t *testing.T) {
	t.Parallel()
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		testChat(t, newStack(t, stackOptions{EchoDelay: 1200 * time.Millisecond}))
	})
	// What `chatbot dev` runs on.
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		testChat(t, newStack(t, stackOptions{Embedded: true, EchoDelay: 1200 * time.Millisecond}))
	})
}

// testChat is TestBrowserChat on one stack.
func testChat(t *testing.T, s *stack) {
	p := newPage(t)
	p.start(s, "Ada")
	if got := p.textNoFail("#chat-title"); got != "New chat" {
		t.Fatalf("title %q", got)
	}

	// The third message would run a script if the page ever wrote text as HTML.
	texts := []string{
		"Hi! Can you hear me?",
		"Replies stream in word by word, and a reload keeps the whole conversation.",
		`Is this <b>bold</b>? <img src=x onerror=alert(1)>`,
	}
	for _, text := range texts {
		p.send(text)
	}
	// A reply on its way: a bot bubble still streaming, with some of its words.
	p.waitFor(10*time.Second, "a partial reply", `[...document.querySelectorAll('#messages > li.bot.streaming .text')].some(e => e.textContent.length > 0 && e.textContent.length < `+itoa(len(echoText(texts[0])))+`)`)
	if got := p.textNoFail("#chat-title"); got != texts[0] {
		t.Fatalf("title %q, want the first message", got)
	}
	p.waitFor(20*time.Second, "three replies", `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 3`)
	want := []msg{}
	for _, text := range texts {
		want = append(want, msg{Role: "human", Text: text}, msg{Role: "bot", Text: echoText(text)})
	}
	checkConversation(t, p.messages(), want)
	if n := eval[int](p, `document.querySelectorAll('#messages img, #messages b').length`); n != 0 {
		t.Fatalf("a message was written as HTML: %d elements", n)
	}

	p.do(chromedp.Reload())
	p.waitFor(10*time.Second, "the history after a reload", `document.querySelectorAll('#messages > li[data-state="done"]').length === 6 && document.querySelector('#conn').dataset.state === 'open'`)
	checkConversation(t, p.messages(), want)
}

// checkConversation compares roles and texts, and checks every message has an id and a time.
func checkConversation(t *testing.T, got, want []msg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages on the page, want %d:\n%+v", len(got), len(want), got)
	}
	ids := map[string]bool{}
	for i := range want {
		if got[i].Role != want[i].Role || got[i].Text != strings.TrimSpace(want[i].Text) {
			t.Fatalf("message %d = %s %q, want %s %q\nall: %+v", i, got[i].Role, got[i].Text, want[i].Role, want[i].Text, got)
		}
		if got[i].ID == "" || ids[got[i].ID] || !strings.Contains(got[i].Time, ":") {
			t.Fatalf("message %d has id %q (dup %v), time %q", i, got[i].ID, ids[got[i].ID], got[i].Time)
		}
		ids[got[i].ID] = true
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestBrowserReconnect: the connection is cut in the middle of a streamed reply and stays
// down while a message is written; when it is back, the page reconnects by itself, resumes
// from the last offset it saw, sends the waiting message, and shows every reply once. Then a
// rolling deploy closes the socket with 1001, and the page moves to the new server.
func TestBrowserReconnect(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{EchoDelay: 2 * time.Second})
	p := newPage(t)
	p.start(s, "Grace")

	first := "one two three four five six seven eight nine ten"
	p.send(first)
	p.waitFor(10*time.Second, "a partial reply", `[...document.querySelectorAll('#messages > li.bot.streaming .text')].some(e => e.textContent.split(' ').length >= 3)`)
	s.proxy.setDown(true)
	p.waitFor(10*time.Second, "the indicator to show the cut", `document.querySelector('#conn').dataset.state !== 'open'`)
	second := "written while offline"
	p.send(second)
	if got := p.messages(); got[len(got)-1].State != "sending" {
		t.Fatalf("a message written offline shows %+v, want it waiting to be sent", got[len(got)-1])
	}
	// The reply ends while the page is cut off: only a resume can bring its end.
	tok := p.token()
	storetest.Eventually(t, 10*time.Second, "the first reply to be stored", func() bool {
		h, _ := s.st.History(context.Background(), tok)
		return len(h) == 2
	})
	s.proxy.setDown(false)
	p.waitFor(20*time.Second, "both replies after the reconnect", `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 2 && document.querySelector('#conn').dataset.state === 'open'`)
	want := []msg{
		{Role: "human", Text: first}, {Role: "bot", Text: echoText(first)},
		{Role: "human", Text: second}, {Role: "bot", Text: echoText(second)},
	}
	checkConversation(t, p.messages(), want)
	// Redis has each message once too: the resend after the reconnect was recognised.
	sess, err := s.st.GetSession(context.Background(), tok, false)
	if err != nil || len(sess.Messages) != 4 {
		t.Fatalf("stored conversation %+v %v", sess.Messages, err)
	}

	// A rolling deploy: the old server closes the socket with 1001; the page reconnects to
	// the new one and goes on.
	third := "after the deploy"
	s.replaceWeb()
	p.waitFor(20*time.Second, "the reconnect to the new server", `document.querySelector('#conn').dataset.state === 'open'`)
	p.send(third)
	p.waitFor(20*time.Second, "the reply from the new server", `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 3`)
	checkConversation(t, p.messages(), append(want, msg{Role: "human", Text: third}, msg{Role: "bot", Text: echoText(third)}))
}

// TestBrowserStop: Stop, pressed while a slow reply streams, ends it early; the stopped
// reply keeps the text so far and says it was stopped, also after a reload.
func TestBrowserStop(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{EchoDelay: 8 * time.Second})
	p := newPage(t)
	p.start(s, "Lovelace")
	long := strings.Repeat("many words make a slow reply ", 8)
	p.send(long)
	p.waitFor(10*time.Second, "a partial reply and the Stop button", visible("#stop")+` && [...document.querySelectorAll('#messages > li.bot.streaming .text')].some(e => e.textContent.split(' ').length >= 3)`)
	p.do(chromedp.Click(chromedp.ID("stop")))
	p.waitFor(10*time.Second, "the stopped reply", `document.querySelector('#messages > li.bot[data-state="stopped"]')`)
	p.waitFor(5*time.Second, "the Stop button to go", `document.querySelector('#stop').hidden`)
	check := func() {
		t.Helper()
		got := p.messages()
		if len(got) != 2 {
			t.Fatalf("messages %+v", got)
		}
		bot := got[1]
		full := echoText(long)
		if bot.Text == "" || len(bot.Text) >= len(full) || !strings.HasPrefix(full, bot.Text) || !strings.Contains(bot.Status, "Stopped") {
			t.Fatalf("stopped reply %+v, want a prefix of %q marked Stopped", bot, full)
		}
	}
	check()
	p.do(chromedp.Reload())
	p.waitFor(10*time.Second, "the history after a reload", `document.querySelector('#messages > li.bot[data-state="stopped"]') && document.querySelector('#conn').dataset.state === 'open'`)
	check()
}

// TestBrowserExpired: a session deleted (or expired) while the page is open, or while it is
// closed, shows a clear message and a button back to the start page, and is forgotten.
func TestBrowserExpired(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := newPage(t)
	ctx := context.Background()

	// Deleted while open: the socket closes with 1008.
	p.start(s, "Hopper")
	p.send("hi")
	p.waitFor(10*time.Second, "the reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	tok := p.token()
	if _, err := s.st.DeleteSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	expectExpired(t, p)

	// A new chat, with the same name; it expires while the page is away.
	p.do(chromedp.Click(chromedp.ID("restart")))
	p.waitFor(10*time.Second, "the new chat", visible("#input")+` && document.activeElement === document.querySelector('#input') && document.querySelector('#conn').dataset.state === 'open'`)
	tok2 := p.token()
	if tok2 == "" || tok2 == tok {
		t.Fatalf("new token %q (old %q)", tok2, tok)
	}
	p.do(chromedp.Navigate("about:blank"))
	if _, err := s.st.DeleteSession(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Navigate(s.url))
	expectExpired(t, p)
}

func expectExpired(t *testing.T, p *page) {
	t.Helper()
	p.waitFor(10*time.Second, "the expired notice", visible("#expired")+` && document.querySelector('#composer').hidden`)
	if txt := p.textNoFail("#expired-text"); !strings.Contains(txt, "expired") {
		t.Fatalf("expired notice %q", txt)
	}
	if got := eval[bool](p, `document.activeElement === document.querySelector('#restart')`); !got {
		t.Fatal("the way back is not focused")
	}
	if kept := eval[string](p, `(localStorage.getItem('chatbot.current') || '') + (localStorage.getItem('chatbot.conversations') || '')`); kept != "" && kept != "[]" {
		t.Fatalf("the dead session is still kept: %s", kept)
	}
}

// TestBrowserErrors: what the server refuses is shown, and the page goes on: a message over
// limits.max_message_bytes (the server closes with 1009), a message over the rate limit,
// and a message too long even to send.
func TestBrowserErrors(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{MaxMessageBytes: 300, MessagesPerMinute: 2})
	p := newPage(t)
	p.start(s, "Turing")

	// Over the server's limit (300 bytes here), under the page's own check (4096).
	p.send(strings.Repeat("x", 400))
	p.waitFor(10*time.Second, "the too-long notice", visible("#notice")+` && /too long/i.test(document.querySelector('#notice-text').textContent)`)
	p.waitFor(10*time.Second, "the failed message", `document.querySelector('#messages > li.human[data-state="failed"]')`)
	p.waitFor(20*time.Second, "the reconnect after 1009", `document.querySelector('#conn').dataset.state === 'open'`)

	p.send("one")
	p.send("two")
	p.send("three")
	p.waitFor(10*time.Second, "the rate-limit notice", visible("#notice")+` && /minute/i.test(document.querySelector('#notice-text').textContent)`)
	p.waitFor(10*time.Second, "two replies", `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 2`)
	got := p.messages()
	last := got[len(got)-1]
	if last.Text != "three" || last.State != "failed" || !strings.Contains(last.Status, "Not sent") || !strings.Contains(last.Status, "Retry") {
		t.Fatalf("refused message shows %+v", last)
	}
	if got[0].State != "failed" || !strings.Contains(got[0].Status, "Too long") {
		t.Fatalf("too-long message shows %+v", got[0])
	}

	// Over the page's own limit: not sent at all, the text stays in the box.
	before := len(got)
	p.do(chromedp.SetValue(chromedp.ID("input"), strings.Repeat("y", 5000)), chromedp.Focus(chromedp.ID("input")), pressEnter)
	p.waitFor(5*time.Second, "the page's own too-long notice", `/too long to send/i.test(document.querySelector('#notice-text').textContent)`)
	if n := len(p.messages()); n != before {
		t.Fatalf("%d messages, want %d: an over-long message was added", n, before)
	}
	if v := eval[int](p, `document.querySelector('#input').value.length`); v != 5000 {
		t.Fatalf("the composer lost the text: %d characters left", v)
	}
}

// TestBrowserPhoneAndKeyboard: on a phone-sized screen nothing overflows sideways, even a
// long unbroken word, and the whole flow works from the keyboard with a visible focus.
func TestBrowserPhoneAndKeyboard(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := newPage(t)
	p.do(chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile))
	p.do(chromedp.Navigate(s.url))
	p.waitFor(10*time.Second, "the start page with the name field focused", visible("#name")+` && document.activeElement === document.querySelector('#name')`)
	// Tab to the button: its focus ring shows.
	p.do(chromedp.KeyEvent("\t"))
	if !eval[bool](p, `document.activeElement === document.querySelector('#start-button') && getComputedStyle(document.activeElement).outlineStyle !== 'none'`) {
		t.Fatal("the start button has no visible focus after Tab")
	}
	// An empty name is refused on the page, with a message tied to the field.
	p.do(pressEnter)
	p.waitFor(5*time.Second, "the name error", visible("#start-error")+` && document.querySelector('#name').getAttribute('aria-invalid') === 'true'`)
	p.do(chromedp.SendKeys(chromedp.ID("name"), "Hamilton"), pressEnter)
	p.waitFor(10*time.Second, "the chat, the composer focused", `document.querySelector('#conn').dataset.state === 'open' && document.activeElement === document.querySelector('#input')`)

	word := strings.Repeat("supercalifragilistic", 12)
	p.send(word)
	p.waitFor(10*time.Second, "the reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	fits := `(() => {
	  const w = document.documentElement.clientWidth;
	  if (document.documentElement.scrollWidth > w) return false;
	  return [...document.querySelectorAll('.bubble, #composer, #send')].every(e => e.getBoundingClientRect().right <= w + 0.5);
	})()`
	if !eval[bool](p, fits) {
		t.Fatalf("something is wider than the 375px screen: %d > %d", eval[int](p, `document.documentElement.scrollWidth`), eval[int](p, `document.documentElement.clientWidth`))
	}
	// The composer is on screen, under the conversation.
	if !eval[bool](p, `document.querySelector('#send').getBoundingClientRect().bottom <= window.innerHeight`) {
		t.Fatal("the Send button is below the screen")
	}
	// Every control has a name a screen reader can say.
	unnamed := eval[[]string](p, `[...document.querySelectorAll('button, textarea, input')].filter(e => !e.closest('[hidden]'))
	  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.id || e.outerHTML)`)
	if len(unnamed) != 0 {
		t.Fatalf("controls without a name: %v", unnamed)
	}
}

// TestBrowserReloadWhileStreaming: a reload in the middle of a reply shows the history and
// the reply in progress from its first word (the page resumes from before the reply began),
// which then ends once, whole.
func TestBrowserReloadWhileStreaming(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{EchoDelay: 4 * time.Second})
	p := newPage(t)
	p.start(s, "Noether")
	first := "a short one"
	second := strings.Repeat("streamed across a reload ", 4)
	p.send(first)
	p.waitFor(10*time.Second, "the first reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	p.send(second)
	p.waitFor(10*time.Second, "a partial second reply", `[...document.querySelectorAll('#messages > li.bot.streaming .text')].some(e => e.textContent.split(' ').length >= 3)`)
	p.do(chromedp.Reload())
	p.waitFor(10*time.Second, "the reply in progress after the reload, from its first word",
		`(e => e && e.textContent.startsWith('echo: streamed'))(document.querySelector('#messages > li.bot.streaming .text'))`)
	p.waitFor(20*time.Second, "the second reply", `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 2`)
	checkConversation(t, p.messages(), []msg{
		{Role: "human", Text: first}, {Role: "bot", Text: echoText(first)},
		{Role: "human", Text: second}, {Role: "bot", Text: echoText(second)},
	})
}
