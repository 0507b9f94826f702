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
// Two sources:
//   - local: the conversations this browser opened, in localStorage (auth.mode none, where a
//     session token is the only key to a conversation), each checked with GET /refresh_token.
//   - remote: the signed-in user's sessions as the server lists them (auth.mode jwt, GET
//     /sessions, the newest 200), whichever browser opened them; only the offsets are kept in
//     localStorage.
(() => {
  'use strict';

  const LIST_KEY = 'chatbot.conversations';
  const OFFSETS_KEY = 'chatbot.offsets'; // remote source: token -> [offset, when]
  const MAX_OFFSETS = 200;
  const PAGE = 100; // GET /sessions?limit=
  const MAX_PAGES = 2;
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

  // remote lists the user's sessions from GET /sessions (auth.mode jwt). api is fetch with
  // the user's JWT (auth.js); first is a first answer of GET /sessions already at hand, or null.
  function remote(api, first) {
    const listeners = new Set();
    const changed = () => { for (const fn of listeners) fn(); };
    let list = []; // {token, name, title, active, mine}: mine = when this page added it (ms)
    const dropped = new Set(); // deleted or expired here: an answer from before does not bring them back

    function offsets() {
      const v = read(OFFSETS_KEY);
      return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
    }

    function offsetOf(token) {
      const o = offsets()[token];
      return Array.isArray(o) && typeof o[0] === 'string' ? o[0] : '0';
    }

    function saveOffset(token, offset) {
      const all = offsets();
      all[token] = [offset, Date.now()];
      const tokens = Object.keys(all);
      if (tokens.length > MAX_OFFSETS) {
        tokens.sort((a, b) => (all[b][1] || 0) - (all[a][1] || 0));
        for (const t of tokens.slice(MAX_OFFSETS)) delete all[t];
      }
      write(OFFSETS_KEY, all);
    }

    const sorted = () => list.sort((a, b) => (b.active || 0) - (a.active || 0));
    const view = (e) => ({ token: e.token, name: e.name, title: e.title, active: e.active, offset: offsetOf(e.token) });

    // take replaces the list by the server's sessions. since: when the request went out;
    // conversations this page added after it are kept (the answer could not know them).
    function take(sessions, since) {
      const old = new Map(list.map((e) => [e.token, e]));
      const next = [];
      for (const s of sessions) {
        if (!s || typeof s.token !== 'string' || !s.token || dropped.has(s.token)) continue;
        const o = old.get(s.token);
        const active = Date.parse(s.last_active) || 0;
        next.push({
          token: s.token,
          name: typeof s.name === 'string' ? s.name : '',
          title: titleOf(s.title || (o && o.title) || ''),
          active: Math.max(active, (o && o.active) || 0),
          mine: 0,
        });
      }
      const have = new Set(next.map((e) => e.token));
      for (const e of list) if (e.mine >= since && !have.has(e.token)) next.push(e);
      list = next;
      sorted();
    }

    if (first && Array.isArray(first.sessions)) take(first.sessions, Date.now());

    const source = {
      kind: 'remote',
      all() { return list.map(view); },
      get(token) {
        const e = list.find((x) => x.token === token);
        return e ? view(e) : null;
      },
      put(entry) {
        if (entry.offset !== undefined) saveOffset(entry.token, entry.offset);
        let e = list.find((x) => x.token === entry.token);
        const isNew = !e;
        if (isNew) {
          e = { token: entry.token, name: '', title: '', active: Date.now(), mine: Date.now() };
          list.push(e);
        }
        const before = [e.name, e.title, e.active].join('\n');
        for (const k of ['name', 'title', 'active']) if (entry[k] !== undefined) e[k] = entry[k];
        sorted();
        if (isNew || before !== [e.name, e.title, e.active].join('\n')) changed();
      },
      drop(token) {
        dropped.add(token);
        const all = offsets();
        if (all[token]) {
          delete all[token];
          write(OFFSETS_KEY, all);
        }
        const n = list.length;
        list = list.filter((e) => e.token !== token);
        if (list.length !== n) changed();
      },
      // check reads the list again (the newest MAX_PAGES * PAGE sessions). A server out of
      // reach, or an answer that is not a list, changes nothing.
      async check() {
        const since = Date.now();
        const sessions = [];
        let cursor = '';
        for (let page = 0; page < MAX_PAGES; page++) {
          const q = new URLSearchParams({ limit: String(PAGE) });
          if (cursor) q.set('cursor', cursor);
          let body = null;
          try {
            const res = await api(`sessions?${q}`);
            if (res.ok) body = await res.json();
          } catch (_) {
            body = null;
          }
          if (!body || !Array.isArray(body.sessions)) return;
          sessions.push(...body.sessions);
          if (typeof body.next !== 'string' || !body.next) break;
          cursor = body.next;
        }
        take(sessions, since);
        changed();
      },
      onChange(fn) { listeners.add(fn); },
    };
    return source;
  }

  window.ChatConversations = Object.freeze({ local, remote, titleOf });
})();
