package ui_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"sync"
	"testing"
	"time"

	"chatbot/cmd"
	"chatbot/pkg/store/storetest"

	"github.com/chromedp/chromedp"
)

// syncBuffer is a bytes.Buffer safe for a command's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// signInLink is a line of `chatbot dev --auth-demo`: the link and whom it signs in.
var signInLink = regexp.MustCompile(`(http://\S+/#access_token=[A-Za-z0-9_.-]+)\s+signed in as (.+?) \(sub`)

// TestBrowserAuthDemo: the newcomer's way in, end to end. `chatbot dev --auth-demo` (the
// command itself, in this process, on its embedded Redis) prints a sign-in link per demo
// user. Alice's link opens the start page greeting her, with no name to type; a chat starts
// and answers, and is listed.
func TestBrowserAuthDemo(t *testing.T) {
	t.Parallel()
	root := cmd.NewRootCommand()
	out := &syncBuffer{}
	root.SetOut(out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"dev", "--auth-demo", "--server.addr", "127.0.0.1:0", "--log.level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30s")
		}
	})
	var links [][]string
	storetest.Eventually(t, 15*time.Second, "dev to print its sign-in links", func() bool {
		links = signInLink.FindAllStringSubmatch(out.String(), -1)
		return len(links) == 2
	})
	if links[0][2] != "Alice (demo)" || links[1][2] != "Bob (demo)" {
		t.Fatalf("links for %q and %q:\n%s", links[0][2], links[1][2], out.String())
	}

	alice := newPage(t)
	alice.do(chromedp.Navigate(links[0][1]))
	alice.waitFor(10*time.Second, "the start page greeting Alice", visible("#start-button")+
		` && document.querySelector('#lede').textContent.startsWith('Signed in as Alice (demo).') && document.querySelector('#name').hidden && !location.hash`)
	alice.do(chromedp.Click(chromedp.ID("start-button")))
	alice.waitFor(10*time.Second, "the chat", visible("#input")+` && `+connOpen)
	alice.send("Hello from the demo")
	alice.waitFor(10*time.Second, "the reply", doneReplies(1))
	checkConversation(t, alice.messages(), []msg{
		{Role: "human", Text: "Hello from the demo"}, {Role: "bot", Text: echoText("Hello from the demo")},
	})
	checkConvs(t, alice, []conv{{Title: "Hello from the demo", Current: true}})
}
