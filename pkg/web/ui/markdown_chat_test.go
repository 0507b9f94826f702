package ui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// markdownMessage has a table, two lists, a link and a fenced code block. The echo model's
// "echo: " goes on its first line, so both the message and the reply read the same.
const markdownMessage = "Compare:\n\n| lang | year |\n|------|-----:|\n| Go | 2009 |\n| Rust | 2015 |\n\n" +
	"- fast\n- safe\n\n1. first\n2. second\n\nSee [the spec](https://spec.commonmark.org/) for more.\n\n" +
	"```go\nfunc main() {\n\tprintln(\"hi\")\n}\n```"

const markdownCode = "func main() {\n\tprintln(\"hi\")\n}"

// TestBrowserMarkdownChat: a message with Markdown, and the reply that repeats it, show as a
// table, lists, a link and a code block with its language and a Copy button; Copy puts the
// code on the clipboard.
func TestBrowserMarkdownChat(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := newPage(t)
	p.start(s, "Knuth")
	p.send(markdownMessage)
	p.waitFor(10*time.Second, "the reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)

	type rendered struct {
		TH, TD, RightTD, UL, OL, Para int
		Href, Rel, Target, Link       string
		Lang, Code, Copy              string
		Streaming                     bool
	}
	read := func(role string) rendered {
		return eval[rendered](p, `(li => ({
		  th: li.querySelectorAll('table thead th').length, td: li.querySelectorAll('table tbody td').length,
		  rightTD: li.querySelectorAll('table tbody td.align-right').length,
		  ul: li.querySelectorAll('ul > li').length, ol: li.querySelectorAll('ol > li').length,
		  para: li.querySelectorAll('.text > p').length,
		  href: li.querySelector('a').href, rel: li.querySelector('a').rel, target: li.querySelector('a').target,
		  link: li.querySelector('a').textContent,
		  lang: li.querySelector('.code-block .code-lang').textContent, code: li.querySelector('.code-block pre code').textContent,
		  copy: li.querySelector('.code-block button.copy').textContent, streaming: li.classList.contains('streaming'),
		}))(document.querySelector('#messages > li.`+role+`'))`)
	}
	for _, role := range []string{"human", "bot"} {
		got := read(role)
		want := rendered{TH: 2, TD: 4, RightTD: 2, UL: 2, OL: 2, Para: 2,
			Href: "https://spec.commonmark.org/", Rel: "noopener noreferrer", Target: "_blank", Link: "the spec",
			Lang: "go", Code: markdownCode, Copy: "Copy"}
		if got != want {
			t.Errorf("the %s message renders as %+v\nwant %+v", role, got, want)
		}
	}
	if raw := eval[bool](p, `document.querySelector('#messages').textContent.includes('|---')`); raw {
		t.Error("the Markdown shows as typed")
	}

	// Copy: with the clipboard permission granted, the button puts the code there.
	origin := strings.TrimSuffix(s.url, "/")
	bctx := chromedp.FromContext(p.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(p.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: origin, BrowserContextID: bctx,
		}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	// The clipboard API wants a focused page; headless tabs are not, unless told to act as if.
	if _, err := chromedp.Call(p.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Click(`#messages > li.bot .code-block button.copy`))
	p.waitFor(5*time.Second, "the Copied label", `document.querySelector('#messages > li.bot .code-block button.copy').textContent === 'Copied'`)
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || clip != markdownCode {
		t.Fatalf("clipboard %q %v, want %q", clip, err, markdownCode)
	}
}

// TestBrowserMarkdownHostile: a message (and so the reply repeating it) made of the usual ways
// to run script through Markdown never runs any: the payloads set a global flag, which stays
// unset; the page makes no element but its own; the harness fails the test on any exception
// or Content-Security-Policy violation in the page.
func TestBrowserMarkdownHostile(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := newPage(t)
	p.start(s, "Mallory")
	payload := "Payloads:\n\n<script>window.pwned='script'</script>\n\n<img src=x onerror=\"window.pwned='onerror'\">\n\n" +
		"[click](javascript:window.pwned='link') <a href=\"javascript:window.pwned='a'\">a</a>\n\n" +
		"![x](javascript:window.pwned='image') <svg onload=\"window.pwned='svg'\"></svg>\n\n" +
		"<iframe srcdoc=\"<script>parent.pwned='iframe'</script>\"></iframe> [d](data:text/html,<script>alert(1)</script>)\n\n" +
		"**<img src=x onerror=\"window.pwned='in bold'\">** `<img src=x onerror=\"window.pwned='in code'\">`\n\n" +
		"| <img src=x onerror=\"window.pwned='in a cell'\"> |\n|---|\n\n```html\n<script>window.pwned='fence'</script>\n```"
	p.send(payload)
	p.waitFor(10*time.Second, "the reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	if got := eval[string](p, `String(window.pwned)`); got != "undefined" {
		t.Fatalf("a payload ran: window.pwned = %s", got)
	}
	foreign := eval[[]string](p, `[...document.querySelectorAll('#messages script, #messages img, #messages svg, #messages iframe, #messages [onerror], #messages [onload]')].map(e => e.outerHTML)`)
	if len(foreign) != 0 {
		t.Fatalf("elements from the message reached the page: %v", foreign)
	}
	links := eval[[]string](p, `[...document.querySelectorAll('#messages a')].map(a => a.href)`)
	if len(links) != 0 {
		t.Fatalf("links made from the payloads: %v", links)
	}
	// The text is all there, as text.
	for _, role := range []string{"human", "bot"} {
		text := eval[string](p, `document.querySelector('#messages > li.`+role+` .text').textContent`)
		for _, want := range []string{"<script>window.pwned='script'</script>", "onerror=\"window.pwned='onerror'\"", "[click](javascript:window.pwned='link')"} {
			if !strings.Contains(text, want) {
				t.Errorf("the %s message lacks %q: %q", role, want, text)
			}
		}
	}
}

// TestBrowserStreamingMarkdown: a reply that stops in the middle of a fenced code block shows
// the code as code already; the block grows in place (the same element) as the rest comes;
// the reply is a polite live region while written, the focus stays in the message box; a
// reader who scrolled up stays where they are, and gets a button back to the end.
func TestBrowserStreamingMarkdown(t *testing.T) {
	t.Parallel()
	var reply strings.Builder
	for i := 1; i <= 30; i++ {
		reply.WriteString("Paragraph " + itoa(i) + " of the answer, long enough to need some room.\n\n")
	}
	reply.WriteString("```go\nfunc main() {\n\tfmt.Println(\"one\")\n\tfmt.Println(\"two\")\n}\n```\n\nThat is all.")
	hold := make(chan struct{})
	s := newStack(t, stackOptions{Model: scripted{Reply: reply.String(), HoldBefore: "fmt.Println(\"two\")", Hold: hold}})
	p := newPage(t)
	p.start(s, "Hopper")
	p.send("Show me a long answer with code")

	streaming := `document.querySelector('#messages > li.bot.streaming')`
	p.waitFor(10*time.Second, "the reply up to the middle of the code block",
		`(li => li && (c => c && c.textContent.includes('fmt.Println("one")'))(li.querySelector('.code-block pre code')))(`+streaming+`)`)
	state := eval[map[string]any](p, `(li => ({
	  code: li.querySelector('.code-block pre code').textContent, lang: li.querySelector('.code-lang').textContent,
	  fences: li.querySelector('.text').textContent.includes('`+"```"+`'),
	  live: li.getAttribute('aria-live'), busy: li.getAttribute('aria-busy'),
	  focus: document.activeElement && document.activeElement.id,
	}))(`+streaming+`)`)
	if state["code"] != "func main() {\n\tfmt.Println(\"one\")\n\t" || state["lang"] != "go" || state["fences"] != false {
		t.Fatalf("the open code block shows %+v", state)
	}
	if state["live"] != "polite" || state["busy"] != "true" || state["focus"] != "input" {
		t.Fatalf("while written: %+v, want aria-live polite, aria-busy, the focus in #input", state)
	}

	// The reader scrolls up; the button to the end shows.
	eval[bool](p, `(document.querySelector('pre').marked = true, document.querySelector('#log').scrollTop = 0, true)`)
	p.waitFor(5*time.Second, "the button to the end", visible("#to-end"))

	close(hold)
	p.waitFor(10*time.Second, "the whole reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	after := eval[map[string]any](p, `({
	  same: document.querySelector('#messages > li.bot pre').marked === true,
	  code: document.querySelector('#messages > li.bot pre code').textContent,
	  top: document.querySelector('#log').scrollTop, toEnd: !document.querySelector('#to-end').hidden,
	  busy: document.querySelector('#messages > li.bot').getAttribute('aria-busy'),
	})`)
	if after["same"] != true || after["code"] != "func main() {\n\tfmt.Println(\"one\")\n\tfmt.Println(\"two\")\n}" {
		t.Fatalf("the code block after the reply ended: %+v (same is false when it was made again)", after)
	}
	if after["top"] != float64(0) || after["toEnd"] != true || after["busy"] != nil {
		t.Fatalf("after the reply: %+v, want the view still at the top, the button shown, not busy", after)
	}
	p.do(chromedp.Click(chromedp.ID("to-end")))
	p.waitFor(5*time.Second, "the view at the end, the focus back in the box",
		`document.querySelector('#to-end').hidden && document.activeElement === document.querySelector('#input') && (l => l.scrollHeight - l.scrollTop - l.clientHeight < 2)(document.querySelector('#log'))`)
}
