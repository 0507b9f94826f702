// Package ui is the web chat UI, embedded in the binary and served at GET / by pkg/web.
//
// The UI is plain files in static/: index.html, style.css, favicon.svg and three scripts, with
// no framework, no build step, no CDN and nothing vendored, so what is in the tree is what the
// browser runs, under a strict Content-Security-Policy (scripts and styles from the page's own
// origin only; no inline script, no eval):
//
//   - markdown.js renders messages and replies as Markdown (paragraphs, lists, emphasis,
//     links, tables, block quotes, inline and fenced code with a language label and a Copy
//     button). It builds DOM nodes and text nodes only and never parses HTML: raw HTML in a
//     message shows as text, and links go only to http, https and mailto URLs (target=_blank,
//     rel="noopener noreferrer"). A reply being streamed is rendered again as each delta
//     arrives, keeping the elements of the blocks that did not change, so nothing flickers; a
//     code fence not closed yet shows as code.
//   - conversations.js keeps the conversations the user can go back to. Its one source today
//     is this browser's localStorage (auth.mode none): the sessions it opened, each checked
//     with GET /refresh_token at load (expired ones drop out), titled by their first message.
//     It says what a source provides, so a second one (GET /sessions with auth.mode jwt) can
//     take its place.
//   - app.js is the page: the start page creates a session (POST /token); the chat page loads
//     its history (GET /refresh_token) and talks over WebSocket /chat?stream=1: streamed
//     replies, a Stop button, a connection indicator, reconnects with backoff that resume
//     from the last offset seen (?last_id), and a clear way on when the session has expired.
//     The side panel (a drawer on a phone) lists the conversations: switch, start a new one
//     with the name last used, delete one (DELETE /token, two presses).
//
// Light and dark colours follow prefers-color-scheme. The reply being written is a polite
// live region (aria-busy until done); the focus stays in the message box; every control is a
// button reachable from the keyboard, with a visible focus ring; a button takes a reader who
// scrolled up back to the end.
//
// The browser tests (browser_test.go and the *_test.go beside it) drive the page in headless
// Chromium against the real web tier, workers and Redis; harness_test.go is their harness.
package ui
