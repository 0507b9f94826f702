// Package ui is the web chat UI, embedded in the binary and served at GET / by pkg/web.
//
// The UI is plain files in static/ (index.html, style.css, app.js, favicon.svg): no framework,
// no build step, no CDN, so what is in the tree is what the browser runs. The start page
// creates a session (POST /token); the chat page loads its history (GET /refresh_token) and
// talks over WebSocket /chat?stream=1: streamed replies, a Stop button, a connection indicator,
// reconnects with backoff that resume from the last offset seen (?last_id), and a clear way
// back when the session has expired. The token is kept in localStorage so a reload returns
// to the conversation. Text is only ever written with textContent.
//
// browser_test.go drives it in headless Chromium against the real web tier, workers and Redis.
package ui
