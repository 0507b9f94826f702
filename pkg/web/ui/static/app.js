// chatbot web UI.
//
// Start page: a name goes to POST /token, which returns a session. Chat page: the history comes
// from GET /refresh_token, then a WebSocket /chat?stream=1 carries messages out and acks,
// streamed deltas, replies and errors in. The session (token, name, resume offset) is kept in
// localStorage, so a reload comes back to the same conversation.
//
// Delivery: every frame from the session's event stream has an offset. The page remembers the
// last one and reconnects with ?last_id=<it>, so nothing is lost; it drops frames at or before
// it and replies it already shows, so nothing appears twice. Messages are sent with a client_id
// and re-sent after a reconnect until acknowledged (the server ignores a repeated client_id).
//
// All text reaches the page through textContent or text nodes, never as HTML.
(() => {
  'use strict';

  const STORAGE_KEY = 'chatbot.session';
  // limits.max_message_bytes by default. The server is the authority (it closes the socket
  // with 1009 on a bigger frame); this check only spares the user a round trip.
  const MAX_FRAME_BYTES = 4096;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const STABLE_MS = 3000; // a connection open this long resets the backoff
  const NOTICE_MS = 10000;

  const CLOSE_POLICY = 1008; // session unknown, expired or deleted
  const CLOSE_TOO_BIG = 1009; // frame over limits.max_message_bytes

  const ERROR_TEXT = {
    rate_limited: 'You are sending messages too fast. Wait a moment and try again.',
    too_many_pending: 'Too many messages are waiting for a reply. Wait for the replies, then try again.',
    empty_message: 'An empty message was not sent.',
    bad_frame: 'The server did not understand a message from this page.',
    model_error: 'The model could not answer this message.',
    history_truncated: 'Part of the conversation was missed while offline; reloading it.',
    unavailable: 'The service is unavailable right now. Try again in a moment.',
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    start: $('start'), startForm: $('start-form'), name: $('name'), startError: $('start-error'),
    startButton: $('start-button'),
    chat: $('chat'), title: $('chat-title'), conn: $('conn'), connText: $('conn-text'),
    newChat: $('new-chat'), log: $('log'), empty: $('empty'), messages: $('messages'),
    notice: $('notice'), noticeText: $('notice-text'), noticeClose: $('notice-close'),
    expired: $('expired'), expiredText: $('expired-text'), restart: $('restart'),
    composer: $('composer'), input: $('input'), send: $('send'), stop: $('stop'),
    counter: $('counter'),
  };

  // ---- storage -----------------------------------------------------------------------------

  function loadSaved() {
    try {
      const s = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
      if (s && typeof s.token === 'string' && s.token) return s;
    } catch (_) { /* unreadable or unavailable: start afresh */ }
    return null;
  }

  function save(s) {
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(s)); } catch (_) { /* private mode */ }
  }

  function forget() {
    try { localStorage.removeItem(STORAGE_KEY); } catch (_) { /* nothing kept */ }
  }

  // ---- small helpers -----------------------------------------------------------------------

  // compareIDs orders Redis stream IDs "ms-seq"; "" and "0" come before every other.
  function compareIDs(a, b) {
    const [am, as] = split(a);
    const [bm, bs] = split(b);
    if (am !== bm) return am < bm ? -1 : 1;
    if (as !== bs) return as < bs ? -1 : 1;
    return 0;
  }
  function split(id) {
    const [ms, seq] = String(id || '0').split('-');
    return [BigInt(ms || 0), BigInt(seq || 0)];
  }

  // newID is a random UUID; crypto.randomUUID needs a secure context (https or localhost),
  // getRandomValues does not (a phone on the LAN reaches the dev server over plain http).
  function newID() {
    if (window.crypto && crypto.randomUUID && window.isSecureContext) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  function setTime(el, when) {
    const d = when ? new Date(when) : new Date();
    if (Number.isNaN(d.getTime())) return;
    el.dateTime = d.toISOString();
    el.textContent = timeFormat.format(d);
    el.title = fullFormat.format(d);
  }

  const bytes = (s) => new TextEncoder().encode(s).length;

  function show(page) {
    ui.start.hidden = page !== 'start';
    ui.chat.hidden = page !== 'chat';
  }

  // ---- start page --------------------------------------------------------------------------

  function startPage(prefill) {
    show('start');
    document.title = 'Start a chat';
    ui.startError.hidden = true;
    ui.startButton.disabled = false;
    if (prefill) ui.name.value = prefill;
    ui.name.focus();
  }

  function startError(text) {
    ui.startError.textContent = text;
    ui.startError.hidden = false;
    ui.name.setAttribute('aria-invalid', 'true');
    ui.name.focus();
  }

  ui.startForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = ui.name.value.trim();
    if (!name || [...name].length > 100) {
      startError('Enter a name of 1 to 100 characters.');
      return;
    }
    ui.startButton.disabled = true;
    ui.startError.hidden = true;
    ui.name.removeAttribute('aria-invalid');
    try {
      const res = await fetch('token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      const body = await res.json().catch(() => null);
      if (res.status === 429) {
        startError('Too many new chats from this address. Try again in a minute.');
      } else if (!res.ok || !body || !body.token) {
        const d = body && body.detail;
        startError((d && (d.msg || (typeof d === 'string' && d))) || `The server refused: ${res.status}.`);
      } else {
        const s = { token: body.token, name: body.name || name, offset: '0' };
        save(s);
        openChat(s, body.messages || [], true);
      }
    } catch (_) {
      startError('Cannot reach the server. Check the connection and try again.');
    } finally {
      ui.startButton.disabled = false;
    }
  });

  // ---- chat page ---------------------------------------------------------------------------

  let current = null; // the open Chat

  // openChat shows the chat of saved; fresh means it was just created (nothing to load).
  function openChat(saved, messages, fresh) {
    if (current) current.close();
    current = new Chat(saved);
    current.start(messages, fresh);
  }

  function leave() {
    if (current) current.close();
    current = null;
    forget();
    ui.messages.replaceChildren();
    startPage();
  }

  ui.newChat.addEventListener('click', leave);
  ui.restart.addEventListener('click', leave);
  ui.noticeClose.addEventListener('click', () => { ui.notice.hidden = true; ui.input.focus(); });

  class Chat {
    constructor(saved) {
      this.token = saved.token;
      this.name = saved.name || '';
      // lastOffset: the newest frame handled (resume point of this page's reconnects).
      // savedOffset: the newest frame after which no reply was half-streamed; a reload resumes
      // from it, so a reply in progress is replayed from its first delta.
      this.lastOffset = saved.offset || '0';
      this.savedOffset = this.lastOffset;
      this.byID = new Map(); // message id -> <li>
      this.unacked = new Map(); // client_id -> {el, text, state: 'sending'|'failed'}
      this.streaming = new Map(); // reply_to -> <li> of the reply being written
      this.answered = new Set(); // ids of user messages with a reply (or an error) shown
      this.ws = null;
      this.closed = false;
      this.attempt = 0;
      this.retryTimer = 0;
      this.openedAt = 0;
      this.stopping = false;
      this.stopTimer = 0;
      this.syncing = null;
      this.synced = false; // the history was loaded once
      this.onOnline = () => this.reconnectNow();
      this.onOffline = () => this.setConn('offline', 'Offline');
      this.onVisible = () => { if (document.visibilityState === 'visible') this.reconnectNow(); };
    }

    start(messages, fresh) {
      show('chat');
      ui.title.textContent = this.name || 'Chat';
      document.title = this.name ? `Chat · ${this.name}` : 'Chat';
      ui.messages.replaceChildren();
      ui.expired.hidden = true;
      ui.composer.hidden = false;
      ui.notice.hidden = true;
      this.applyHistory(messages);
      this.refreshEmpty();
      this.updateStop();
      ui.input.focus();
      window.addEventListener('online', this.onOnline);
      window.addEventListener('offline', this.onOffline);
      document.addEventListener('visibilitychange', this.onVisible);
      // A new session has no history to fetch; a saved one does.
      this.synced = !!fresh;
      const first = fresh ? Promise.resolve(true) : this.sync();
      first.then((ok) => { if (ok) this.connect(); });
    }

    close() {
      this.closed = true;
      clearTimeout(this.retryTimer);
      clearTimeout(this.stopTimer);
      clearTimeout(this.noticeTimer);
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
      document.removeEventListener('visibilitychange', this.onVisible);
      if (this.ws) this.ws.close(1000, 'page left the chat');
      this.ws = null;
    }

    persist() {
      save({ token: this.token, name: this.name, offset: this.savedOffset });
    }

    // sync loads the conversation from /refresh_token and merges it into the page. It
    // resolves false when the session is gone (and shows so).
    sync() {
      if (this.syncing) return this.syncing;
      this.syncing = (async () => {
        try {
          const res = await fetch(`refresh_token?token=${encodeURIComponent(this.token)}`);
          if (this.closed) return false;
          if (res.status === 400 || res.status === 404) {
            this.expire();
            return false;
          }
          if (!res.ok) throw new Error(`status ${res.status}`);
          const body = await res.json();
          if (body.name && body.name !== this.name) {
            this.name = body.name;
            ui.title.textContent = this.name;
            this.persist();
          }
          this.applyHistory(body.messages || []);
          this.synced = true;
          return true;
        } catch (_) {
          // The server is unreachable: the socket's reconnect loop keeps trying.
          return !this.closed;
        } finally {
          this.syncing = null;
        }
      })();
      return this.syncing;
    }

    // applyHistory merges messages (conversation order, then the ones waiting for a reply)
    // into the page: each one not shown yet is inserted after the one before it.
    applyHistory(messages) {
      let prev = null;
      // Replies come in order: every message of ours before the last reply is answered, even
      // one whose reply failed (it has none). The ones after it still wait.
      let lastBot = -1;
      messages.forEach((m, i) => { if (m && m.role === 'bot') lastBot = i; });
      messages.forEach((m, i) => { if (m && m.role !== 'bot' && i < lastBot) this.answered.add(m.id); });
      for (const m of messages) {
        if (!m || typeof m.id !== 'string') continue;
        let el = this.byID.get(m.id);
        const mine = m.client_id && this.unacked.get(m.client_id);
        if (!el && mine) {
          el = mine.el;
          this.acked(m.client_id, m.id);
        }
        if (m.role === 'bot' && m.reply_to) {
          const partial = this.streaming.get(m.reply_to);
          if (!el && partial) {
            el = partial;
            this.streaming.delete(m.reply_to);
          }
          this.answered.add(m.reply_to);
        }
        if (!el) el = this.bubble(m.role === 'bot' ? 'bot' : 'human');
        if (!el.isConnected || (!this.byID.has(m.id) && !mine)) {
          if (prev) prev.after(el); else ui.messages.prepend(el);
        }
        this.fill(el, m);
        prev = el;
      }
      this.refreshEmpty();
      this.updateStop();
      this.scrollToEnd(true);
    }

    // ---- the socket ----

    connect() {
      if (this.closed || this.ws) return;
      clearTimeout(this.retryTimer);
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const base = location.pathname.replace(/[^/]*$/, '');
      const q = new URLSearchParams({ token: this.token, stream: '1', last_id: this.lastOffset || '0' });
      this.setConn(this.attempt ? 'waiting' : 'connecting', this.attempt ? 'Reconnecting…' : 'Connecting…');
      let ws;
      try {
        ws = new WebSocket(`${scheme}//${location.host}${base}chat?${q}`);
      } catch (_) {
        this.scheduleReconnect();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        if (ws !== this.ws) return;
        this.openedAt = Date.now();
        this.setConn('open', 'Connected');
        this.stopping = false;
        if (!this.synced) this.sync(); // the server was unreachable when the page loaded
        // Anything not acknowledged yet goes (again): the client_id makes it idempotent.
        for (const [cid, m] of this.unacked) if (m.state === 'sending') this.transmit(cid);
        this.updateStop();
      };
      ws.onmessage = (ev) => {
        if (ws !== this.ws || typeof ev.data !== 'string') return;
        let f;
        try { f = JSON.parse(ev.data); } catch (_) { return; }
        if (f && typeof f === 'object') this.onFrame(f);
      };
      ws.onclose = (ev) => {
        if (ws !== this.ws) return;
        this.ws = null;
        this.onClosed(ev);
      };
    }

    onClosed(ev) {
      if (this.closed) return;
      const stable = this.openedAt && Date.now() - this.openedAt >= STABLE_MS;
      this.openedAt = 0;
      if (stable) this.attempt = 0;
      this.updateStop();
      if (ev.code === CLOSE_POLICY) {
        // Most likely the session expired or was deleted; make sure before forgetting it.
        this.setConn('waiting', 'Checking the session…');
        this.sync().then((ok) => {
          if (!ok) return;
          this.notice(ev.reason || 'The server closed the connection.');
          this.scheduleReconnect();
        });
        return;
      }
      if (ev.code === CLOSE_TOO_BIG) this.tooBig();
      this.scheduleReconnect();
    }

    scheduleReconnect() {
      if (this.closed) return;
      clearTimeout(this.retryTimer);
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
      const wait = Math.round(base / 2 + Math.random() * base / 2);
      this.attempt++;
      if (navigator.onLine === false) {
        this.setConn('offline', 'Offline');
      } else {
        this.setConn('waiting', `Reconnecting in ${Math.max(1, Math.round(wait / 1000))}s…`);
      }
      this.retryTimer = setTimeout(() => this.connect(), wait);
    }

    reconnectNow() {
      if (this.closed || this.ws || !ui.expired.hidden) return;
      this.connect();
    }

    setConn(state, text) {
      ui.conn.dataset.state = state;
      ui.connText.textContent = text;
    }

    transmit(cid) {
      const m = this.unacked.get(cid);
      if (!m || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({ type: 'message', msg: m.text, client_id: cid }));
    }

    // ---- frames from the server ----

    onFrame(f) {
      if (f.offset) {
        if (compareIDs(f.offset, this.lastOffset) <= 0) return; // already handled
        this.lastOffset = f.offset;
      }
      switch (f.type) {
        case 'ack': this.onAck(f); break;
        case 'delta': this.onDelta(f); break;
        case 'message': this.onMessage(f); break;
        case 'error': this.onError(f); break;
        default: break; // a frame type this page does not know: ignore it
      }
      if (f.offset && this.streaming.size === 0) {
        this.savedOffset = f.offset;
        this.persist();
      }
    }

    onAck(f) {
      if (f.client_id && this.unacked.has(f.client_id)) {
        this.acked(f.client_id, f.id);
      } else if (f.id && !this.byID.has(f.id)) {
        // Sent from another tab or device: fetch it to show it in place.
        this.sync();
      }
      this.updateStop();
    }

    onDelta(f) {
      if (!f.reply_to || this.answered.has(f.reply_to)) return;
      let el = this.streaming.get(f.reply_to);
      if (!el) {
        el = this.bubble('bot');
        el.classList.add('streaming');
        el.setAttribute('aria-busy', 'true');
        setTime(el.querySelector('time'));
        this.place(el, f.reply_to);
        this.streaming.set(f.reply_to, el);
      }
      const text = el.querySelector('.text');
      const stick = this.nearEnd();
      if (f.restart) text.textContent = '';
      if (f.text) text.append(f.text); // a text node, never HTML
      this.updateStop();
      this.scrollToEnd(stick);
    }

    onMessage(f) {
      if (!f.id || this.byID.has(f.id)) return;
      const stick = this.nearEnd();
      let el = f.reply_to && this.streaming.get(f.reply_to);
      if (el) {
        this.streaming.delete(f.reply_to);
      } else {
        el = this.bubble(f.role === 'human' ? 'human' : 'bot');
        this.place(el, f.reply_to);
      }
      this.fill(el, f);
      if (f.reply_to) this.answered.add(f.reply_to);
      this.stopping = false;
      this.refreshEmpty();
      this.updateStop();
      this.scrollToEnd(stick);
    }

    onError(f) {
      const text = f.msg || ERROR_TEXT[f.code] || 'Something went wrong.';
      switch (f.code) {
        case 'history_truncated':
          this.notice(ERROR_TEXT.history_truncated);
          this.sync();
          return;
        case 'model_error': {
          if (!f.reply_to) break;
          const stick = this.nearEnd();
          let el = this.streaming.get(f.reply_to);
          this.streaming.delete(f.reply_to);
          if (!el) {
            el = this.bubble('bot');
            this.place(el, f.reply_to);
          }
          el.classList.remove('streaming');
          el.classList.add('error');
          el.removeAttribute('aria-busy');
          el.querySelector('.text').textContent = `${ERROR_TEXT.model_error} ${f.msg || ''}`.trim();
          setTime(el.querySelector('time'));
          this.answered.add(f.reply_to);
          this.stopping = false;
          this.updateStop();
          this.scrollToEnd(stick);
          return;
        }
        case 'rate_limited':
        case 'too_many_pending':
        case 'empty_message':
        case 'bad_frame':
        case 'unavailable': {
          // The refused message is one not acknowledged yet; say so on it, with a retry.
          const target = this.unacked.get(f.client_id) || this.unacked.get(f.reply_to);
          if (target) this.failed(target, 'Not sent');
          else for (const m of this.unacked.values()) this.failed(m, 'Not sent');
          break;
        }
        default:
          break;
      }
      this.notice(text);
    }

    tooBig() {
      // The server closed on a frame over its limit: the newest message not acknowledged.
      const last = [...this.unacked.values()].filter((m) => m.state === 'sending').pop();
      if (last) this.failed(last, 'Too long, not sent', false);
      this.notice('That message is too long for the server. Shorten it and send it again.');
    }

    // ---- the page ----

    // bubble makes an empty message element.
    bubble(role) {
      const li = document.createElement('li');
      li.className = `msg ${role}`;
      li.dataset.role = role;
      const b = document.createElement('div');
      b.className = 'bubble';
      const p = document.createElement('p');
      p.className = 'text';
      b.append(p);
      const meta = document.createElement('div');
      meta.className = 'meta';
      const who = document.createElement('span');
      who.className = 'visually-hidden';
      who.textContent = role === 'bot' ? 'Assistant, ' : 'You, ';
      const t = document.createElement('time');
      const status = document.createElement('span');
      status.className = 'status';
      meta.append(who, t, status);
      li.append(b, meta);
      return li;
    }

    // fill shows a stored message (from the history or a message frame) in el.
    fill(el, m) {
      el.classList.remove('streaming', 'error');
      el.removeAttribute('aria-busy');
      el.dataset.id = m.id;
      el.dataset.state = m.stopped ? 'stopped' : 'done';
      if (m.reply_to) el.dataset.replyTo = m.reply_to;
      el.querySelector('.text').textContent = m.msg == null ? '' : String(m.msg);
      setTime(el.querySelector('time'), m.timestamp);
      const status = el.querySelector('.status');
      status.replaceChildren();
      if (m.stopped) {
        const tag = document.createElement('span');
        tag.className = 'stopped-tag';
        tag.textContent = 'Stopped';
        status.append(tag);
      }
      this.byID.set(m.id, el);
    }

    // place puts a reply right after the message it answers (conversation order, as a reload
    // shows it), or at the end when that message is not on the page.
    place(el, replyTo) {
      const q = replyTo && this.byID.get(replyTo);
      if (q && q.isConnected) q.after(el); else ui.messages.append(el);
      this.refreshEmpty();
    }

    acked(cid, id) {
      const m = this.unacked.get(cid);
      if (!m) return;
      this.unacked.delete(cid);
      if (id) {
        m.el.dataset.id = id;
        this.byID.set(id, m.el);
      }
      m.el.dataset.state = 'sent';
      m.el.querySelector('.status').replaceChildren();
    }

    failed(m, why, retry = true) {
      m.state = 'failed';
      m.el.dataset.state = 'failed';
      const status = m.el.querySelector('.status');
      status.replaceChildren(document.createTextNode(`${why}${retry ? ' · ' : ''}`));
      if (retry) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'link';
        b.textContent = 'Retry';
        b.addEventListener('click', () => {
          m.state = 'sending';
          m.el.dataset.state = 'sending';
          status.textContent = 'Sending…';
          this.transmit(m.el.dataset.clientId);
          ui.input.focus();
        });
        status.append(b);
      }
    }

    sendText(text) {
      const cid = newID();
      const frame = JSON.stringify({ type: 'message', msg: text, client_id: cid });
      const size = bytes(frame);
      if (size > MAX_FRAME_BYTES) {
        this.notice(`That message is too long to send (${size} bytes with its envelope; the limit is ${MAX_FRAME_BYTES}). Shorten it.`);
        return false;
      }
      const el = this.bubble('human');
      el.dataset.clientId = cid;
      el.dataset.state = 'sending';
      el.querySelector('.text').textContent = text;
      setTime(el.querySelector('time'));
      el.querySelector('.status').textContent = 'Sending…';
      ui.messages.append(el);
      this.unacked.set(cid, { el, text, state: 'sending' });
      this.refreshEmpty();
      this.scrollToEnd(true);
      this.transmit(cid);
      if (!this.ws) this.reconnectNow();
      return true;
    }

    stop() {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({ type: 'stop' }));
      this.stopping = true;
      this.updateStop();
      // The stopped reply ends the wait; if none comes (nothing was being written), give the
      // button back after a while.
      clearTimeout(this.stopTimer);
      this.stopTimer = setTimeout(() => { this.stopping = false; this.updateStop(); }, 5000);
    }

    // updateStop shows Stop while a message of ours waits for its reply.
    updateStop() {
      let waiting = this.streaming.size > 0;
      if (!waiting) {
        for (const [id, el] of this.byID) {
          if (el.dataset.role === 'human' && !this.answered.has(id)) { waiting = true; break; }
        }
      }
      const open = !!this.ws && this.ws.readyState === WebSocket.OPEN;
      ui.stop.hidden = !waiting;
      ui.stop.disabled = !open || this.stopping;
      ui.stop.textContent = this.stopping ? 'Stopping…' : 'Stop';
    }

    expire() {
      this.close();
      forget();
      this.setConn('expired', 'Session ended');
      ui.composer.hidden = true;
      ui.notice.hidden = true;
      ui.stop.hidden = true;
      ui.expired.hidden = false;
      for (const b of ui.messages.querySelectorAll('.status button')) b.disabled = true;
      ui.restart.focus();
    }

    notice(text) {
      ui.noticeText.textContent = text;
      ui.notice.hidden = false;
      clearTimeout(this.noticeTimer);
      this.noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, NOTICE_MS);
    }

    refreshEmpty() {
      ui.empty.hidden = ui.messages.childElementCount > 0;
    }

    nearEnd() {
      return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
    }

    scrollToEnd(really) {
      if (really) ui.log.scrollTop = ui.log.scrollHeight;
    }
  }

  // ---- composer ----------------------------------------------------------------------------

  function grow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, 192)}px`;
    const size = bytes(ui.input.value);
    const near = size > MAX_FRAME_BYTES * 0.8;
    ui.counter.textContent = near ? `${size} / ${MAX_FRAME_BYTES} bytes` : '';
    ui.counter.classList.toggle('over', size > MAX_FRAME_BYTES - 100);
  }

  ui.input.addEventListener('input', grow);
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.input.value;
    if (!current || !text.trim()) return;
    if (current.sendText(text)) {
      ui.input.value = '';
      grow();
    }
    ui.input.focus();
  });
  ui.stop.addEventListener('click', () => { if (current) current.stop(); });

  // ---- boot --------------------------------------------------------------------------------

  const saved = loadSaved();
  if (saved) openChat(saved, []);
  else startPage();
})();
