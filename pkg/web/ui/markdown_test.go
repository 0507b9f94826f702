package ui_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"chatbot/pkg/web/ui"

	"github.com/chromedp/chromedp"
)

// These tests run markdown.js in the page as the binary serves it (no stack needed).

// rendererPage opens the UI's files, served by ui.Handler, in a tab.
func rendererPage(t *testing.T) *page {
	t.Helper()
	srv := httptest.NewServer(ui.Handler(ui.Options{}))
	t.Cleanup(srv.Close)
	p := newPage(t)
	p.do(chromedp.Navigate(srv.URL))
	p.waitFor(10*time.Second, "markdown.js", `window.ChatMarkdown && document.querySelector('#start:not([hidden])')`)
	return p
}

// render is each source rendered into a fresh element, as HTML.
func render(p *page, sources []string) []string {
	p.t.Helper()
	js, _ := json.Marshal(sources)
	return eval[[]string](p, `(`+string(js)+`).map(md => { const d = document.createElement('div'); ChatMarkdown.update(d, md); return d.innerHTML; })`)
}

func codeHTML(lang, code string) string {
	label, aria := lang, "Copy "+lang+" code"
	if lang == "" {
		label, aria = "code", "Copy code"
	}
	return `<div class="code-block" data-lang="` + lang + `"><div class="code-head"><span class="code-lang">` + label +
		`</span><button class="copy" type="button" aria-label="` + aria + `">Copy</button></div><pre><code>` + code + `</code></pre></div>`
}

func link(href, text string) string {
	return `<a href="` + href + `" rel="noopener noreferrer" target="_blank">` + text + `</a>`
}

// TestBrowserMarkdownRenderer: each case renders to exactly the HTML expected.
func TestBrowserMarkdownRenderer(t *testing.T) {
	t.Parallel()
	p := rendererPage(t)
	cases := []struct{ name, md, want string }{
		{"paragraphs and breaks", "one\ntwo  \nthree\n\nfour", `<p>one<br>two<br>three</p><p>four</p>`},
		{"emphasis", "**b** *i* _u_ ***bi*** ~~s~~ snake_case_name 2*3*4 **a *b* c**",
			`<p><strong>b</strong> <em>i</em> <em>u</em> <em><strong>bi</strong></em> <del>s</del> snake_case_name 2<em>3</em>4 <strong>a <em>b</em> c</strong></p>`},
		{"unpaired delimiters stay text", "a * b ** c _ d ~ e", `<p>a * b ** c _ d ~ e</p>`},
		{"inline code keeps its text", "use `a <b> *c*` and ``x ` y``", `<p>use <code>a &lt;b&gt; *c*</code> and <code>x ` + "`" + ` y</code></p>`},
		{"escapes and entities", `\*not em\* &amp; &lt;tag&gt; &#65; &copy; &bogus;`, `<p>*not em* &amp; &lt;tag&gt; A © &amp;bogus;</p>`},
		{"headings", "# One\n### Three ###\n#no", `<h1>One</h1><h3>Three</h3><p>#no</p>`},
		{"thematic break", "a\n\n---\n\nb", `<p>a</p><hr><p>b</p>`},
		{"block quote", "> quoted\nlazy\n> > nested", `<blockquote><p>quoted<br>lazy</p><blockquote><p>nested</p></blockquote></blockquote>`},
		{"bullet list, nested", "- a\n- b\n  - c\n  - d\n- e", `<ul><li>a</li><li>b<ul><li>c</li><li>d</li></ul></li><li>e</li></ul>`},
		{"ordered list from 3, nested by two spaces", "3. x\n4. y\n  - z", `<ol start="3"><li>x</li><li>y<ul><li>z</li></ul></li></ol>`},
		{"loose list", "1. a\n\n2. b\n\n   more", `<ol><li><p>a</p></li><li><p>b</p><p>more</p></li></ol>`},
		{"task list", "- [ ] todo\n- [x] done", `<ul><li class="task"><span class="task-box" role="img" aria-label="not done">☐</span> todo</li><li class="task"><span class="task-box" role="img" aria-label="done">☑</span> done</li></ul>`},
		{"table after a paragraph line", "Sizes:\n| a | b | c |\n|:--|:-:|--:|\n| 1 | **2** | `3\\|4` |\n| 5 |",
			`<p>Sizes:</p><div class="table-wrap"><table><thead><tr><th class="align-left">a</th><th class="align-center">b</th><th class="align-right">c</th></tr></thead>` +
				`<tbody><tr><td class="align-left">1</td><td class="align-center"><strong>2</strong></td><td class="align-right"><code>3|4</code></td></tr>` +
				`<tr><td class="align-left">5</td><td class="align-center"></td><td class="align-right"></td></tr></tbody></table></div>`},
		{"not a table: columns differ", "| a | b |\n|---|", `<p>| a | b |<br>|---|</p>`},
		{"fenced code keeps tabs and markup", "```go\nfunc main() {\n\tprintln(\"<b>&\")\n}\n```\nafter",
			codeHTML("go", "func main() {\n\tprintln(\"&lt;b&gt;&amp;\")\n}") + `<p>after</p>`},
		{"tilde fence, no language", "~~~\n*x*\n~~~", codeHTML("", "*x*")},
		{"a fence left open runs to the end", "text\n\n```python\nprint(1)\n\nx = 2", `<p>text</p>` + codeHTML("python", "print(1)\n\nx = 2")},
		{"a longer fence is not closed by a shorter one", "````\n```\n````", codeHTML("", "```")},
		{"indented code", "para\n\n    code  line\n    two", `<p>para</p>` + codeHTML("", "code  line\ntwo")},
		{"links", `[spec](https://spec.commonmark.org/0.31.2/ "The spec") <https://go.dev> see https://example.com/a_(b). and www.example.org, <me@example.com> [mail](mailto:x@example.com)`,
			`<p><a href="https://spec.commonmark.org/0.31.2/" rel="noopener noreferrer" target="_blank" title="The spec">spec</a> ` + link("https://go.dev/", "https://go.dev") +
				` see ` + link("https://example.com/a_(b)", "https://example.com/a_(b)") + `. and ` + link("http://www.example.org/", "www.example.org") +
				`, ` + link("mailto:me@example.com", "me@example.com") + ` ` + link("mailto:x@example.com", "mail") + `</p>`},
		{"link text with markup", "[**bold** `code`](https://a.example/)", `<p>` + link("https://a.example/", "<strong>bold</strong> <code>code</code>") + `</p>`},
		{"image as a link", "![a cat](https://img.example/cat.png)", `<p><a class="image-link" href="https://img.example/cat.png" rel="noopener noreferrer" target="_blank">a cat</a></p>`},
		{"links to other schemes are text", "[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](data:text/html,hi) [r](/relative) <javascript:alert(1)> [v](vbscript:x) [t](java\tscript:x)",
			"<p>[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](data:text/html,hi) [r](/relative) &lt;javascript:alert(1)&gt; [v](vbscript:x) [t](java\tscript:x)</p>"},
		{"raw HTML is text", `<script>alert(1)</script><img src=x onerror=alert(1)> <b>b</b>`,
			`<p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &lt;b&gt;b&lt;/b&gt;</p>`},
		{"HTML block is text", "<div>\n<iframe src=\"https://evil.example\"></iframe>\n</div>",
			`<p>&lt;div&gt;<br>&lt;iframe src="https://evil.example"&gt;&lt;/iframe&gt;<br>&lt;/div&gt;</p>`},
	}
	var sources []string
	for _, c := range cases {
		sources = append(sources, c.md)
	}
	got := render(p, sources)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s:\n%q\nrenders\n%s\nwant\n%s", c.name, c.md, got[i], c.want)
		}
	}
}

// TestBrowserMarkdownStreaming: rendering a text a piece at a time, as a reply streams, gives
// at every step exactly what rendering that much at once gives, and keeps the elements of the
// blocks already written.
func TestBrowserMarkdownStreaming(t *testing.T) {
	t.Parallel()
	p := rendererPage(t)
	text := "# Plan\n\nFirst *do* this:\n\n1. one\n2. two\n   - sub\n\n| k | v |\n|---|---|\n| a | 1 |\n| b | 2 |\n\n" +
		"> note\n\n```js\nconst x = 1;\n\nconsole.log(x);\n```\n\nThen [read](https://example.com) `more`.\n\n~~~\nopen at the end"
	js, _ := json.Marshal(text)
	bad := eval[string](p, `(() => {
	  const text = `+string(js)+`;
	  const live = document.createElement('div');
	  let first = null;
	  for (let i = 1; i <= text.length; i++) {
	    ChatMarkdown.update(live, text.slice(0, i));
	    const fresh = document.createElement('div');
	    ChatMarkdown.update(fresh, text.slice(0, i));
	    if (live.innerHTML !== fresh.innerHTML) return 'after ' + i + ' characters:\n' + live.innerHTML + '\nwant\n' + fresh.innerHTML;
	    if (i === 7) first = live.firstElementChild;
	  }
	  if (live.firstElementChild !== first) return 'the heading was made again';
	  return '';
	})()`)
	if bad != "" {
		t.Fatal(bad)
	}
}

// TestBrowserMarkdownRendererHostile renders thousands of texts made of the pieces that attacks are
// made of (a fixed seed: the same texts every run) and checks that no element or attribute
// outside markdown.js's short lists appears, and no link goes anywhere but http, https or
// mailto.
func TestBrowserMarkdownRendererHostile(t *testing.T) {
	t.Parallel()
	p := rendererPage(t)
	bad := eval[string](p, `(() => {
	  const pieces = ['<', '>', '</', 'script', 'img', 'svg', 'iframe', ' src=x', ' onerror=', ' onload=', 'alert(1)', '"', "'",
	    '[', ']', '(', ')', '![', 'javascript:', 'JaVaScRiPt:', 'java\tscript:', ' javascript:', 'data:text/html,', 'vbscript:',
	    'http://x.example/', 'https://', 'mailto:', 'www.', '//evil.example', '&#106;', '&#x6A;', '&lt;', '&',
	    '`+"`"+`', '`+"```"+`', '~~~', '*', '**', '_', '~', '|', '|---|', '-', '1.', '> ', '#', '\\', '\n', '\n\n', ' ', '    ', 'a'];
	  const tags = new Set(['P', 'BR', 'STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'A', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'HR',
	    'BLOCKQUOTE', 'UL', 'OL', 'LI', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'DIV', 'SPAN', 'BUTTON']);
	  const attrs = new Set(['class', 'href', 'rel', 'target', 'title', 'type', 'aria-label', 'data-lang', 'start', 'role']);
	  let seed = 17;
	  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
	  for (let k = 0; k < 3000; k++) {
	    let md = '';
	    const n = 1 + rand(40);
	    for (let i = 0; i < n; i++) md += pieces[rand(pieces.length)];
	    const d = document.createElement('div');
	    ChatMarkdown.update(d, md);
	    for (const e of d.querySelectorAll('*')) {
	      if (!tags.has(e.tagName)) return 'element ' + e.tagName + ' from ' + JSON.stringify(md);
	      for (const a of e.attributes) if (!attrs.has(a.name)) return 'attribute ' + a.name + ' from ' + JSON.stringify(md);
	      if (e.tagName === 'A') {
	        const u = new URL(e.getAttribute('href'));
	        if (!['http:', 'https:', 'mailto:'].includes(u.protocol) || e.rel !== 'noopener noreferrer' || e.target !== '_blank') return 'link ' + e.outerHTML + ' from ' + JSON.stringify(md);
	      } else if (e.hasAttribute('href')) return 'href on ' + e.tagName;
	    }
	  }
	  return '';
	})()`)
	if bad != "" {
		t.Fatal(bad)
	}
}
