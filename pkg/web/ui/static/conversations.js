// chatbot web UI: the conversations the user can go back to.
//
// A source keeps that list; the side panel and the chat (app.js) use nothing else of it:
//
//   all()          the conversations known now, most recently active first (no network)
//   get(token)     one of them, or null
//   put(entry)     a conversation was opened or changed; entry: {token, name?, title?,
//                  offset?, active?} (fields left out keep their value)
//   drop(token)    a conversation is gone (deleted or expired)
//   check(skip)    asks the server which are still alive, drops the others and refreshes the
//                  names and titles; resolves when done (skip: a token not to ask about)
//   onChange(fn)   fn() runs when the list shown would change (also from another tab)
//
// An entry is {token, name, title, offset, active}: title is the first user message cut to 80
// characters, offset the last event this browser handled (its resume point: a browser's own
// business whatever the source), active when the user last sent or got a message (ms).
//
// Today there is one source, local: the conversations this browser opened, in localStorage
// (auth.mode none, where a session token is the only key to a conversation). With auth.mode
// jwt the server will list the user's sessions itself (GET /sessions, issue 12); a source for
// it implements the same methods on that list, keeping only the offsets locally.
(() => {
  'use strict';

  const LIST_KEY = 'chatbot.conversations';
  const LEGACY_KEY = 'chatbot.session'; // the one conversation pages before the list kept
  const MAX_KEPT = 50; // conversations this browser remembers; the oldest are forgotten
  const TITLE_MAX = 80;
  const CHECKS_AT_ONCE = 3;

  // titleOf is a conversation's title from its first user message (text) or its messages.
  function titleOf(x) {
    let text = x;
    if (Array.isArray(x)) {
      const first = x.find((m) => m && m.role !== 'bot' && typeof m.msg === 'string');
      text = first ? first.msg : '';
    }
    return [...String(text || '').replace(/\s+/g, ' ').trim()].slice(0, TITLE_MAX).join('');
  }

  function read(key) {
    try { return JSON.parse(localStorage.getItem(key) || 'null'); } catch (_) { return null; }
  }

  function write(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (_) { /* private mode, full */ }
  }

  function local() {
    const listeners = new Set();
    const changed = () => { for (const fn of listeners) fn(); };

    function load() {
      const v = read(LIST_KEY);
      if (!Array.isArray(v)) return [];
      return v.filter((e) => e && typeof e.token === 'string' && e.token);
    }

    function save(list) {
      list.sort((a, b) => (b.active || 0) - (a.active || 0));
      write(LIST_KEY, list.slice(0, MAX_KEPT));
    }

    const source = {
      kind: 'local',
      all: load,
      get(token) { return load().find((e) => e.token === token) || null; },
      put(entry) {
        const list = load();
        const i = list.findIndex((e) => e.token === entry.token);
        const old = i >= 0 ? list[i] : { token: entry.token, name: '', title: '', offset: '0', active: Date.now() };
        const next = { ...old };
        for (const k of ['name', 'title', 'offset', 'active']) if (entry[k] !== undefined) next[k] = entry[k];
        if (i >= 0) list[i] = next; else list.push(next);
        save(list);
        // Only a new offset changes nothing shown (it moves with every frame).
        if (i < 0 || old.name !== next.name || old.title !== next.title || old.active !== next.active) changed();
      },
      drop(token) {
        const list = load();
        const next = list.filter((e) => e.token !== token);
        if (next.length === list.length) return;
        save(next);
        changed();
      },
      // check asks GET /refresh_token about each conversation (a few at a time): a 400 means
      // expired or deleted, and it drops out; a server out of reach changes nothing. (It also
      // slides each session's expiry, as any visit to it would.)
      async check(skip) {
        const todo = load().filter((e) => e.token !== skip);
        const worker = async () => {
          for (let e = todo.shift(); e; e = todo.shift()) {
            let res;
            try {
              res = await fetch(`refresh_token?token=${encodeURIComponent(e.token)}`);
            } catch (_) {
              continue;
            }
            if (res.status === 400 || res.status === 404) { source.drop(e.token); continue; }
            if (!res.ok) continue;
            const body = await res.json().catch(() => null);
            if (!body || !source.get(e.token)) continue;
            source.put({ token: e.token, name: body.name || e.name, title: e.title || titleOf(body.messages || []) });
          }
        };
        await Promise.all(Array.from({ length: CHECKS_AT_ONCE }, worker));
      },
      onChange(fn) { listeners.add(fn); },
    };

    // A page from before the list kept one conversation under LEGACY_KEY: adopt it (as the
    // most recent, the page opens it).
    const legacy = read(LEGACY_KEY);
    if (legacy && typeof legacy.token === 'string' && legacy.token) {
      if (!source.get(legacy.token)) source.put({ token: legacy.token, name: legacy.name || '', offset: legacy.offset || '0' });
      try { localStorage.removeItem(LEGACY_KEY); } catch (_) { /* nothing kept */ }
    }

    window.addEventListener('storage', (ev) => { if (ev.key === LIST_KEY || ev.key === null) changed(); });
    return source;
  }

  window.ChatConversations = Object.freeze({ local, titleOf });
})();
