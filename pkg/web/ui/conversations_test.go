package ui_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// conv is an entry of the side panel as the page shows it.
type conv struct {
	Title   string `json:"title"`
	Current bool   `json:"current"`
}

const convsJS = `[...document.querySelectorAll('#convs > li')].map(li => ({
  title: li.querySelector('.conv-title').textContent, current: li.querySelector('.conv-open').hasAttribute('aria-current') }))`

func (p *page) convs() []conv {
	p.t.Helper()
	return eval[[]conv](p, convsJS)
}

// clickConv presses the button of the side panel's entry titled title (sel: .conv-open or
// .conv-delete).
func (p *page) clickConv(title, sel string) {
	p.t.Helper()
	ok := eval[bool](p, `(li => li ? (li.querySelector('`+sel+`').click(), true) : false)([...document.querySelectorAll('#convs > li')].find(li => li.querySelector('.conv-title').textContent === `+jsString(title)+`))`)
	if !ok {
		p.t.Fatalf("no conversation %q in the side panel: %+v", title, p.convs())
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserConversations: two conversations, each titled by its first message, listed in
// the side panel, newest first; the list survives a reload; switching shows each one's own
// history; deleting one deletes its session; one that expired drops out at the next visit.
func TestBrowserConversations(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	p := newPage(t)
	p.start(s, "Ada")
	first, second, third := "first conversation", "second conversation", "third, soon gone"
	p.send(first)
	p.waitFor(10*time.Second, "the first reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	tokA := p.token()
	if got := p.textNoFail("#chat-title"); got != first {
		t.Fatalf("title %q, want the first message", got)
	}

	// New chat (in the side panel on a wide screen): a new session, with the same name.
	p.do(chromedp.Click(chromedp.ID("side-new")))
	p.waitFor(10*time.Second, "the new chat", `document.querySelector('#messages').children.length === 0 && document.querySelector('#conn').dataset.state === 'open' && localStorage.getItem('chatbot.current') !== `+jsString(tokA))
	if got := eval[string](p, `document.activeElement.id`); got != "input" {
		t.Fatalf("focus on %q after New chat, want the message box", got)
	}
	p.send(second)
	p.waitFor(10*time.Second, "the second reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	tokB := p.token()
	sess, err := s.st.GetSession(ctx, tokB, false)
	if err != nil || sess.Name != "Ada" {
		t.Fatalf("the new session %+v %v", sess, err)
	}
	want := []conv{{Title: second, Current: true}, {Title: first}}
	checkConvs(t, p, want)

	// A reload comes back to the same list and the same conversation.
	p.do(chromedp.Reload())
	p.waitFor(10*time.Second, "the second conversation after a reload", `document.querySelectorAll('#messages > li[data-state="done"]').length === 2 && document.querySelector('#conn').dataset.state === 'open' && document.querySelectorAll('#convs > li').length === 2`)
	checkConvs(t, p, want)
	checkConversation(t, p.messages(), []msg{{Role: "human", Text: second}, {Role: "bot", Text: echoText(second)}})

	// Switching shows the other history.
	p.clickConv(first, ".conv-open")
	p.waitFor(10*time.Second, "the first conversation", `(m => m && m.textContent.trim() === `+jsString(echoText(first))+`)(document.querySelector('#messages > li.bot .text')) && document.querySelector('#conn').dataset.state === 'open'`)
	checkConversation(t, p.messages(), []msg{{Role: "human", Text: first}, {Role: "bot", Text: echoText(first)}})
	if p.token() != tokA || p.textNoFail("#chat-title") != first {
		t.Fatalf("after switching: token %q title %q", p.token(), p.textNoFail("#chat-title"))
	}
	checkConvs(t, p, []conv{{Title: second}, {Title: first, Current: true}})

	// Delete takes two presses; then the session is gone from the server and the list.
	p.clickConv(second, ".conv-delete")
	if n := len(p.convs()); n != 2 {
		t.Fatalf("one press deleted: %d conversations left", n)
	}
	p.clickConv(second, ".conv-delete")
	p.waitFor(10*time.Second, "the deleted conversation to leave the list", `document.querySelectorAll('#convs > li').length === 1`)
	if _, err := s.st.GetSession(ctx, tokB, false); err == nil {
		t.Fatal("the deleted conversation's session is still in Redis")
	}
	checkConvs(t, p, []conv{{Title: first, Current: true}})

	// A conversation whose session expires (here: deleted behind the page's back) drops out
	// when the page next checks the list, at its next load.
	p.do(chromedp.Click(chromedp.ID("side-new")))
	p.waitFor(10*time.Second, "a third chat", `document.querySelectorAll('#convs > li').length === 2 && document.querySelector('#conn').dataset.state === 'open'`)
	p.send(third)
	p.waitFor(10*time.Second, "the third reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	tokC := p.token()
	p.clickConv(first, ".conv-open")
	p.waitFor(10*time.Second, "the first conversation again", `localStorage.getItem('chatbot.current') === `+jsString(tokA)+` && document.querySelector('#conn').dataset.state === 'open'`)
	if _, err := s.st.DeleteSession(ctx, tokC); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Reload())
	p.waitFor(10*time.Second, "the expired conversation to drop out", `document.querySelectorAll('#convs > li').length === 1 && document.querySelector('#conn').dataset.state === 'open'`)
	checkConvs(t, p, []conv{{Title: first, Current: true}})
}

func checkConvs(t *testing.T, p *page, want []conv) {
	t.Helper()
	got := p.convs()
	if len(got) != len(want) {
		t.Fatalf("side panel %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("side panel %+v, want %+v", got, want)
		}
	}
}
