// Package ui is the web chat UI, embedded in the binary and served at GET / by pkg/web.
//
// The UI is plain files in static/: index.html, style.css, favicon.svg and four scripts, with
// no framework, no build step, no CDN and nothing vendored, so what is in the tree is what the
// browser runs, under a strict Content-Security-Policy (scripts and styles from the page's own
// origin only; no inline script, no eval; framed only by pages of its own origin and of
// Options.FrameAncestors, server.frame_ancestors):
//
//   - auth.js is the user's sign-in with auth.mode jwt: the JWT the application hands the page,
//     from a link's #access_token= fragment (moved to sessionStorage, taken out of the
//     address) or posted by the page that frames it ({type: "chatbot:token"}, heard from the
//     parent window and its origin only). It sends the JWT as Authorization and as the
//     WebSocket subprotocol bearer.<JWT>, never in a URL; when the JWT is refused it posts
//     {type: "chatbot:token-expired"} to the parent and holds what needs a JWT until a new
//     one arrives. It also tells which mode the server runs (GET /sessions: 404 is none).
//   - markdown.js renders messages and replies as Markdown (paragraphs, lists, emphasis,
//     links, tables, block quotes, inline and fenced code with a language label and a Copy
//     button). It builds DOM nodes and text nodes only and never parses HTML: raw HTML in a
//     message shows as text, and links go only to http, https and mailto URLs (target=_blank,
//     rel="noopener noreferrer"). A reply being streamed is rendered again as each delta
//     arrives, keeping the elements of the blocks that did not change, so nothing flickers; a
//     code fence not closed yet shows as code.
//   - conversations.js keeps the conversations the user can go back to, from one of two
//     sources behind one interface: with auth.mode none this browser's localStorage (the
//     sessions it opened, each checked with GET /refresh_token at load, titled by their first
//     message); with auth.mode jwt the user's sessions from GET /sessions, whichever browser
//     opened them (only the resume offsets are kept locally).
//   - app.js is the page: the start page creates a session (POST /token); the chat page loads
//     its history (GET /refresh_token) and talks over WebSocket /chat?stream=1: streamed
//     replies, a Stop button, Regenerate under the last reply (the new reply takes the old
//     one's place on every page of the session, from the server's ack), a connection
//     indicator, reconnects with backoff that resume from the last offset seen (?last_id),
//     and a clear way on when the session has expired.
//     With auth.mode jwt the start page greets the user by name, and a refused JWT shows the
//     sign-in page, or a note over the open conversation, which resumes once signed in again.
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
