package ui_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/pkg/llm"

	"github.com/chromedp/chromedp"
)

// numbered answers the nth call "reply n to: <message>", so a regenerated reply differs from
// the one it replaces; a message with "slow" in it waits for hold to close first. With fail
// set it writes a word and fails (with an error the worker does not retry).
type numbered struct {
	n    atomic.Int64
	hold chan struct{}
	fail atomic.Bool
}

func (m *numbered) Stream(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
	last := llm.LastUser(msgs)
	if m.fail.Load() {
		onDelta("oops ")
		return "oops ", context.Canceled
	}
	if strings.Contains(last, "slow") {
		if err := onDelta("wait "); err != nil {
			return "", err
		}
		select {
		case <-m.hold:
		case <-ctx.Done():
			return "wait ", ctx.Err()
		}
	}
	reply := fmt.Sprintf("reply %d to: %s", m.n.Add(1), last)
	for _, w := range llm.Words(reply) {
		if err := onDelta(w); err != nil {
			return reply, err
		}
	}
	if strings.Contains(last, "slow") {
		reply = "wait " + reply
	}
	return reply, nil
}

// TestBrowserRegenerate: the Regenerate button is under the last reply only, reachable by
// keyboard; pressed in one tab, the new reply replaces the old one in both tabs of the
// session at once (and in the history, after a reload). A regenerate that reaches the server
// while a reply is being written (a button pressed as another tab's message went) is refused
// with a notice, and the page goes on.
func TestBrowserRegenerate(t *testing.T) {
	t.Parallel()
	model := &numbered{hold: make(chan struct{})}
	s := newStack(t, stackOptions{Model: model})
	p := newPage(t)
	p.start(s, "Hopper")
	p.send("first")
	p.waitFor(10*time.Second, "the first reply", `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 1`)
	p.send("second")
	const twoReplies = `document.querySelectorAll('#messages > li.bot[data-state="done"]').length === 2`
	const onLastOnly = `document.querySelectorAll('#messages button.regenerate').length === 1 &&
	  document.querySelector('#messages > li:last-child button.regenerate:not([disabled])')`
	p.waitFor(10*time.Second, "the second reply, Regenerate under it only", twoReplies+" && "+onLastOnly)

	q := p.tab() // the same conversation in a second tab
	q.do(chromedp.Navigate(s.url))
	q.waitFor(10*time.Second, "the conversation in the second tab", twoReplies+` && document.querySelector('#conn').dataset.state === 'open' && `+onLastOnly)
	oldID := eval[string](q, `document.querySelector('#messages > li:last-child').dataset.id`)

	// By keyboard in the first tab: focus the button, press Enter; the focus goes back to the box.
	p.do(chromedp.Focus(chromedp.CSS("#messages > li:last-child button.regenerate")), pressEnter)
	want := []msg{
		{Role: "human", Text: "first"}, {Role: "bot", Text: "reply 1 to: first"},
		{Role: "human", Text: "second"}, {Role: "bot", Text: "reply 3 to: second"},
	}
	replaced := fmt.Sprintf(`(li => li && li.dataset.state === 'done' && li.dataset.id !== %q &&
	  li.querySelector('.text').textContent.trim() === 'reply 3 to: second')(document.querySelector('#messages > li:last-child'))`, oldID)
	for _, tab := range []*page{p, q} {
		tab.waitFor(10*time.Second, "the new reply in its place", replaced+" && "+onLastOnly)
		checkConversation(t, tab.messages(), want)
	}
	if f := eval[string](p, `document.activeElement.id`); f != "input" {
		t.Errorf("focus on %q after Regenerate, want the message box", f)
	}
	p.do(chromedp.Reload())
	p.waitFor(10*time.Second, "the history after a reload", replaced+` && document.querySelector('#conn').dataset.state === 'open'`)
	checkConversation(t, p.messages(), want)

	// The second tab keeps its button while the first sends a message the model is slow on;
	// pressed once that message is on its way, the server refuses it.
	eval[bool](q, `!!(window.regenButton = document.querySelector('#messages button.regenerate'))`)
	p.send("slow one")
	q.waitFor(10*time.Second, "the slow reply being written", `document.querySelector('#messages > li.bot.streaming') && !document.querySelector('#messages button.regenerate')`)
	eval[bool](q, `(window.regenButton.click(), true)`)
	q.waitFor(10*time.Second, "the refusal", visible("#notice")+` && document.querySelector('#notice-text').textContent.includes('being written')`)
	close(model.hold)
	for _, tab := range []*page{p, q} {
		tab.waitFor(10*time.Second, "the slow reply, Regenerate under it", `(li => li && li.dataset.state === 'done' &&
		  li.querySelector('.text').textContent.trim() === 'wait reply 4 to: slow one')(document.querySelector('#messages > li:last-child')) && `+onLastOnly)
	}
	want = append(want, msg{Role: "human", Text: "slow one"}, msg{Role: "bot", Text: "wait reply 4 to: slow one"})
	checkConversation(t, q.messages(), want)

	// A regeneration the model fails: both tabs show the reply it was to replace again.
	model.fail.Store(true)
	q.do(chromedp.Click(chromedp.CSS("#messages > li:last-child button.regenerate")))
	for _, tab := range []*page{p, q} {
		tab.waitFor(10*time.Second, "the old reply back, and a notice", visible("#notice")+` && document.querySelector('#notice-text').textContent.includes('previous one stays') &&
		  (li => li.dataset.state === 'done' && li.querySelector('.text').textContent.trim() === 'wait reply 4 to: slow one')(document.querySelector('#messages > li:last-child')) && `+onLastOnly)
		checkConversation(t, tab.messages(), want)
	}
}
