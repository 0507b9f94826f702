// chatbot web UI: the user's sign-in with auth.mode jwt (docs/PROTOCOL.md, "The web page").
//
// With auth.mode jwt every request carries a JWT of the application's login. The page never
// signs anyone in itself: the application hands it the JWT, in one of two ways.
//
//   - A link: https://chat.example.com/#access_token=<JWT>. The fragment never reaches a
//     server; this script moves the JWT to sessionStorage (this tab only, kept across
//     reloads) and takes the fragment out of the address bar and the history at once. A new
//     link opened in the same tab later (a fresh JWT) is taken the same way (hashchange).
//   - An embedding page: the application shows the chat in a frame (server.frame_ancestors
//     lists its origin: the browser refuses to show the page framed by any other) and posts
//     {type: "chatbot:token", access_token: jwt} to it. Only the window that frames the page
//     is heard (event.source is window.parent), and only from the parent's origin
//     (location.ancestorOrigins where the browser has it, else the origin of the first such
//     message, kept for the page's life); anything else, or a value that is not a JWT, is
//     ignored.
//
// The JWT goes as Authorization: Bearer on HTTP and as the WebSocket subprotocol pair
// "chatbot", "bearer.<JWT>", never in a URL. When it is refused (a 401, or a socket closed
// with "Credentials expired" or "Authentication required"), it is dropped, the embedding
// page gets {type: "chatbot:token-expired", reason} ("expired", "missing" or "refused"), the
// page shows that the user must sign in again, and everything that waits for a JWT goes on
// once a different one arrives. A JWT for another user (another sub) reloads the page, so
// nothing of the previous user stays on it.
//
// The claims are read (not verified: the server does that) only to greet the user by name.
(() => {
  'use strict';

  const TOKEN_KEY = 'chatbot.access_token';
  const MAX_JWT = 16384; // the server's limit
  const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
  const embedded = window.parent !== window;

  let mode = ''; // 'jwt' or 'none' once the server said; '' before
  let current = ''; // the JWT to send ('' when there is none, or it was refused)
  let user = ''; // sub of the last JWT, kept when it is refused: a JWT for another user reloads
  let signedOut = ''; // why the user must sign in again: '' while they need not
  let refusedJWT = null; // the JWT refused last: the same one again is not tried
  let parentOrigin = (embedded && location.ancestorOrigins && location.ancestorOrigins[0]) || '';
  let waiters = [];
  const listeners = new Set();

  function isJWT(s) {
    return typeof s === 'string' && s.length <= MAX_JWT && JWT_SHAPE.test(s);
  }

  // claimsOf decodes a JWT's payload; {} when it cannot.
  function claimsOf(jwt) {
    try {
      const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
      const c = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
      return c && typeof c === 'object' ? c : {};
    } catch (_) {
      return {};
    }
  }

  function store(jwt) {
    try {
      if (jwt) sessionStorage.setItem(TOKEN_KEY, jwt); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* storage refused: the JWT lives as long as the page */ }
  }

  function changed() { for (const fn of listeners) fn(); }

  // set takes a JWT from the application.
  function set(jwt) {
    if (!isJWT(jwt) || jwt === current || mode === 'none') return;
    if (signedOut && jwt === refusedJWT) return; // the one just refused: wait for another
    const sub = String(claimsOf(jwt).sub || '');
    store(jwt);
    if (user && sub !== user) {
      // Another user: start over, with nothing of the previous one on the page.
      location.reload();
      return;
    }
    user = sub;
    current = jwt;
    signedOut = '';
    const ws = waiters;
    waiters = [];
    for (const fn of ws) fn();
    changed();
  }

  // fromFragment takes #access_token=<JWT> out of the address (and its history entry).
  function fromFragment() {
    if (!location.hash.includes('access_token=')) return;
    const jwt = new URLSearchParams(location.hash.slice(1)).get('access_token');
    history.replaceState(history.state, '', location.pathname + location.search);
    set(jwt);
  }

  // The JWT of the link that opened the page, else the one this tab kept.
  try { current = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { current = ''; }
  if (!isJWT(current)) current = '';
  fromFragment(); // user is not known yet: a JWT of another user replaces the kept one
  if (!user && current) user = String(claimsOf(current).sub || '');
  window.addEventListener('hashchange', fromFragment);

  window.addEventListener('message', (ev) => {
    if (!embedded || ev.source !== window.parent) return;
    const d = ev.data;
    if (!d || typeof d !== 'object' || d.type !== 'chatbot:token' || !isJWT(d.access_token)) return;
    if (!parentOrigin) parentOrigin = ev.origin;
    if (ev.origin !== parentOrigin) return;
    set(d.access_token);
  });

  // reasonOf names why a JWT was refused, from the server's words and the JWT's exp.
  function reasonOf(jwt, said) {
    if (!jwt) return 'missing';
    const exp = Number(claimsOf(jwt).exp);
    if (/expired/i.test(said || '') || (exp && exp * 1000 <= Date.now())) return 'expired';
    return 'refused';
  }

  // refused says jwt ('' for none) was not accepted; said is the server's detail or close
  // reason. It resolves when there is another JWT: at once if one came meanwhile, else once
  // the application sends one. The first refusal drops the JWT, asks the embedding page for
  // a new one and tells the page's listeners (which show that the user must sign in again).
  function refused(jwt, said) {
    if (current && current !== jwt) return Promise.resolve();
    const p = new Promise((resolve) => waiters.push(resolve));
    if (current) {
      current = '';
      store('');
    }
    if (!signedOut) {
      signedOut = reasonOf(jwt, said);
      refusedJWT = jwt;
      if (embedded) window.parent.postMessage({ type: 'chatbot:token-expired', reason: signedOut }, parentOrigin || '*');
      changed();
    }
    return p;
  }

  // authFetch is fetch with the JWT (auth.mode jwt): a 401 waits for a new JWT and tries
  // again, so a request made while signed out completes once the user is signed in again.
  async function authFetch(url, init = {}) {
    for (;;) {
      if (mode !== 'jwt') return fetch(url, init);
      const jwt = current;
      if (!jwt) {
        await refused('', '');
        continue;
      }
      const headers = new Headers(init.headers || {});
      headers.set('Authorization', `Bearer ${jwt}`);
      const res = await fetch(url, { ...init, headers });
      if (res.status !== 401) return res;
      const body = await res.json().catch(() => null);
      await refused(jwt, body && typeof body.detail === 'string' ? body.detail : '');
    }
  }

  // detect asks the server which mode it runs with GET path (/sessions): 404 is auth.mode
  // none; 200 (the user's sessions) or 401 is jwt. It resolves {jwt, list}, list the answer
  // when the JWT was accepted. A server out of reach is asked again, with backoff.
  async function detect(path) {
    for (let wait = 500; ; wait = Math.min(wait * 2, 8000)) {
      let res = null;
      try {
        res = await fetch(path, { headers: current ? { Authorization: `Bearer ${current}` } : {} });
      } catch (_) { /* out of reach: again */ }
      if (res && res.status === 404) {
        mode = 'none';
        current = '';
        store(''); // a JWT is no use here: keep none
        return { jwt: false, list: null };
      }
      if (res && (res.ok || res.status === 401)) {
        mode = 'jwt';
        const body = await res.json().catch(() => null);
        if (res.ok) return { jwt: true, list: body };
        refused(current, body && typeof body.detail === 'string' ? body.detail : '');
        return { jwt: true, list: null };
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  window.ChatAuth = Object.freeze({
    embedded,
    get jwt() { return mode === 'jwt'; },
    // token is the JWT to send now ('' when signed out or with auth.mode none).
    token() { return mode === 'jwt' ? current : ''; },
    // name is the user's name claim, for greeting ('' when none).
    name() { return current ? String(claimsOf(current).name || '') : ''; },
    // signedOut is why the user must sign in again, '' when they need not.
    signedOut() { return mode === 'jwt' ? signedOut : ''; },
    // protocols are the WebSocket subprotocols that carry jwt (none with auth.mode none).
    protocols(jwt) { return mode === 'jwt' && jwt ? ['chatbot', `bearer.${jwt}`] : undefined; },
    detect,
    refused,
    fetch: authFetch,
    onChange(fn) { listeners.add(fn); },
  });
})();
