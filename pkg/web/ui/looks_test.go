package ui_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// A question and the answer the screenshots show: prose, code and a table.
const (
	lookQuestion = "How do I read a big log file line by line in Go? Which way is best?"
	lookAnswer   = "Use a `bufio.Scanner`: it reads the file in chunks and hands you **one line at a time**, so memory stays flat.\n\n" +
		"```go\nf, err := os.Open(\"access.log\")\nif err != nil {\n\treturn err\n}\ndefer f.Close()\n\nsc := bufio.NewScanner(f)\nfor sc.Scan() {\n\thandle(sc.Text())\n}\nreturn sc.Err()\n```\n\n" +
		"| approach | memory | best for |\n|---|---|---|\n| `os.ReadFile` + `strings.Split` | the whole file | small files |\n" +
		"| `bufio.Scanner` | one buffer | most logs |\n| `bufio.Reader.ReadString` | one buffer | lines over 64 KB |\n\n" +
		"Lines over 64 KB need a bigger buffer: see `Scanner.Buffer` in the [bufio docs](https://pkg.go.dev/bufio#Scanner)."
)

// TestBrowserLooks: the page in light and dark (after prefers-color-scheme) and on a 375 px
// phone: the colours are those of the scheme asked for (computed styles and the pixels of a
// screenshot), nothing is wider than the phone's screen (code and tables scroll inside their
// own box), and the side panel is a drawer there that opens and closes from the keyboard.
// With CHATBOT_UPDATE_SCREENSHOT=1 it writes docs/screenshot-chat.png and
// docs/screenshot-chat-dark.png.
func TestBrowserLooks(t *testing.T) {
	t.Parallel()
	update := os.Getenv("CHATBOT_UPDATE_SCREENSHOT") == "1"
	s := newStack(t, stackOptions{Model: scripted{Reply: lookAnswer}})
	p := newPage(t)
	p.do(chromedp.EmulateViewport(1100, 860))
	p.start(s, "Ada")
	p.send("Plan a weekend in Lisbon")
	p.waitFor(10*time.Second, "the first reply", `document.querySelector('#messages > li.bot[data-state="done"]')`)
	p.do(chromedp.Click(chromedp.ID("side-new")))
	p.waitFor(10*time.Second, "the second chat", `document.querySelectorAll('#convs > li').length === 2 && document.querySelector('#conn').dataset.state === 'open' && !document.querySelector('#messages').children.length`)
	p.send(lookQuestion)
	p.waitFor(10*time.Second, "the answer", `document.querySelector('#messages > li.bot[data-state="done"] .code-block') && document.querySelector('#messages > li.bot table')`)
	eval[bool](p, `(document.activeElement.blur(), document.querySelector('#log').scrollTop = 0, true)`)

	colours := func() map[string]float64 {
		return eval[map[string]float64](p, `(() => {
		  const lum = (c) => { const [r, g, b] = c.match(/[\d.]+/g).map(Number); return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
		  const bg = (sel) => lum(getComputedStyle(document.querySelector(sel)).backgroundColor);
		  return { body: bg('body'), bubble: bg('#messages > li.bot .bubble'), code: bg('#messages > li.bot .code-block'),
		           text: lum(getComputedStyle(document.querySelector('#messages > li.bot .text')).color) };
		})()`)
	}
	light := colours()
	if light["body"] < 0.8 || light["bubble"] < 0.8 || light["text"] > 0.3 {
		t.Fatalf("light scheme colours (luminance) %v, want light backgrounds and dark text", light)
	}
	shot := p.screenshot()
	if m := meanLuminance(t, shot); m < 0.7 {
		t.Fatalf("the light screenshot is dark: mean luminance %.2f", m)
	}
	if update {
		writeDoc(t, "screenshot-chat.png", shot)
	}

	setScheme(t, p, "dark")
	p.waitFor(5*time.Second, "the dark scheme", `matchMedia('(prefers-color-scheme: dark)').matches`)
	dark := colours()
	if dark["body"] > 0.15 || dark["bubble"] > 0.2 || dark["code"] > 0.15 || dark["text"] < 0.7 {
		t.Fatalf("dark scheme colours (luminance) %v, want dark backgrounds and light text", dark)
	}
	shot = p.screenshot()
	if m := meanLuminance(t, shot); m > 0.25 {
		t.Fatalf("the dark screenshot is light: mean luminance %.2f", m)
	}
	if update {
		writeDoc(t, "screenshot-chat-dark.png", shot)
	}
	setScheme(t, p, "")

	// A phone: nothing overflows sideways; the wide table and the code scroll in their boxes.
	p.do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
	hidden := `getComputedStyle(document.querySelector('#side')).visibility === 'hidden'`
	p.waitFor(5*time.Second, "the phone layout, the side panel put away", `document.documentElement.clientWidth === 375 && `+hidden)
	fits := eval[map[string]any](p, `(() => {
	  const w = document.documentElement.clientWidth;
	  const wide = [...document.querySelectorAll('.bubble, .code-block, .table-wrap, #composer, #send, .bar')]
	    .filter(e => e.getBoundingClientRect().right > w + 0.5).map(e => e.className || e.id);
	  const pre = document.querySelector('#messages > li.bot pre');
	  return { page: document.documentElement.scrollWidth <= w, wide: wide.join(' '), codeScrolls: pre.scrollWidth > pre.clientWidth };
	})()`)
	if fits["page"] != true || fits["wide"] != "" || fits["codeScrolls"] != true {
		t.Fatalf("at 375 px: %+v, want no overflow and the code scrolling inside its block", fits)
	}
	shot = p.screenshot()
	if cfg, err := png.DecodeConfig(bytes.NewReader(shot)); err != nil || cfg.Width != 375 {
		t.Fatalf("phone screenshot %+v %v, want 375 px wide", cfg, err)
	}

	// The side panel is a drawer: hidden, opened by the menu button, closed with Escape.
	p.waitFor(5*time.Second, "the drawer's button", visible("#side-open"))
	p.do(chromedp.Click(chromedp.ID("side-open")))
	p.waitFor(5*time.Second, "the drawer open, focus in it",
		`!(`+hidden+`) && document.querySelector('#side').contains(document.activeElement) && document.querySelector('#side-open').getAttribute('aria-expanded') === 'true'`)
	p.do(chromedp.KeyEvent("\x1b"))
	p.waitFor(5*time.Second, "the drawer closed, focus back on its button",
		hidden+` && document.activeElement === document.querySelector('#side-open') && document.querySelector('#side-open').getAttribute('aria-expanded') === 'false'`)
}

// setScheme emulates prefers-color-scheme (""; the default).
func setScheme(t *testing.T, p *page, scheme string) {
	t.Helper()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		t.Fatal(err)
	}
}

// meanLuminance is the mean luminance (0 black, 1 white) of a PNG's pixels.
func meanLuminance(t *testing.T, shot []byte) float64 {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	var sum float64
	var n int
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			sum += luminance(img, x, y)
			n++
		}
	}
	return sum / float64(n)
}

func luminance(img image.Image, x, y int) float64 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 65535
}

func writeDoc(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
