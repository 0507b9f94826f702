// chatbot web UI.
//
// Start page: a name goes to POST /token, which returns a session (a conversation). Chat page:
// the history comes from GET /refresh_token, then a WebSocket /chat?stream=1 carries messages
// out and acks, streamed deltas, replies and errors in. Messages and replies are shown as
// Markdown (markdown.js, which builds DOM nodes and never parses HTML). The side panel (a
// drawer on a phone) lists the conversations (conversations.js): switch to one, start a new
// one (with the name last used), delete one (DELETE /token).
//
// Sign-in: at load the page asks GET /sessions which mode the server runs (404: auth.mode
// none; 200 or 401: jwt). With jwt, auth.js holds the user's JWT and sends it with every
// request and socket; the list is the user's sessions from the server; the start page greets
// the user by name; and when the JWT is refused the page says the user must sign in again,
// keeps the conversation on screen (messages written meanwhile wait, as when offline), and
// goes on from where it stopped once a new JWT arrives.
//
// Regenerate: a button under the last reply (when nothing waits for one) sends
// {"type":"regenerate"}; the ack, which every page of the session gets, names the reply to be
// replaced, which becomes the reply being written; a failed regeneration shows it again.
//
// Delivery: every frame from the session's event stream has an offset. The page remembers the
// last one and reconnects with ?last_id=<it>, so nothing is lost; it drops frames at or before
// it and replies it already shows, so nothing appears twice. Messages are sent with a client_id
// and re-sent after a reconnect until acknowledged (the server ignores a repeated client_id).
//
// All text reaches the page through textContent, text nodes, or markdown.js.
(() => {
  'use strict';

  const CURRENT_KEY = 'chatbot.current'; // the token of the conversation open in this browser
  const NAME_KEY = 'chatbot.name'; // the name last used, for new chats
  // limits.max_message_bytes by default. The server is the authority (it closes the socket
  // with 1009 on a bigger frame); this check only spares the user a round trip.
  const MAX_FRAME_BYTES = 4096;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const STABLE_MS = 3000; // a connection open this long resets the backoff
  const NOTICE_MS = 10000;
  const CONFIRM_MS = 4000; // how long a Delete button waits for its confirming second press
  const NEAR_END_PX = 80; // closer than this to the end, new text keeps the view at the end

  const CLOSE_POLICY = 1008; // session unknown, expired or deleted; or (jwt) the JWT refused
  // The 1008 reasons that are about the JWT (auth.mode jwt), not the session.
  const AUTH_REASONS = new Set(['Credentials expired', 'Authentication required']);
  const LIST_CHECK_MS = 15000; // the user's list is read again on return to the page, at most this often
  const CLOSE_TOO_BIG = 1009; // frame over limits.max_message_bytes

  const ERROR_TEXT = {
    rate_limited: 'You are sending messages too fast. Wait a moment and try again.',
    too_many_pending: 'Too many messages are waiting for a reply. Wait for the replies, then try again.',
    empty_message: 'An empty message was not sent.',
    bad_frame: 'The server did not understand a message from this page.',
    model_error: 'The model could not answer this message.',
    history_truncated: 'Part of the conversation was missed while offline; reloading it.',
    unavailable: 'The service is unavailable right now. Try again in a moment.',
    cannot_regenerate: 'There is no reply to regenerate right now.',
  };

  const { titleOf } = window.ChatConversations;
  const auth = window.ChatAuth;
  const api = auth.fetch; // fetch, with the JWT in auth.mode jwt
  // Where the list of conversations comes from (conversations.js says what a source does):
  // chosen at boot, once the server said which mode it runs.
  let source = null;

  const $ = (id) => document.getElementById(id);
  const ui = {
    app: $('app'), main: $('main'), side: $('side'), sideOpen: $('side-open'), sideClose: $('side-close'),
    sideNew: $('side-new'), sideUser: $('side-user'), convs: $('convs'), scrim: $('scrim'),
    start: $('start'), startForm: $('start-form'), name: $('name'), nameLabel: $('name-label'),
    startError: $('start-error'), startButton: $('start-button'), lede: $('lede'),
    signin: $('signin'), signinWhy: $('signin-why'), signinHow: $('signin-how'),
    reauth: $('reauth'), reauthText: $('reauth-text'),
    chat: $('chat'), title: $('chat-title'), conn: $('conn'), connText: $('conn-text'),
    newChat: $('new-chat'), log: $('log'), empty: $('empty'), messages: $('messages'), toEnd: $('to-end'),
    notice: $('notice'), noticeText: $('notice-text'), noticeClose: $('notice-close'),
    expired: $('expired'), expiredText: $('expired-text'), restart: $('restart'),
    composer: $('composer'), input: $('input'), send: $('send'), stop: $('stop'),
    counter: $('counter'),
  };

  // ---- storage -----------------------------------------------------------------------------

  function getItem(key) {
    try { return localStorage.getItem(key) || ''; } catch (_) { return ''; }
  }

  function setItem(key, value) {
    try {
      if (value) localStorage.setItem(key, value); else localStorage.removeItem(key);
    } catch (_) { /* private mode */ }
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
  const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  function setTime(el, when) {
    const d = when ? new Date(when) : new Date();
    if (Number.isNaN(d.getTime())) return;
    el.dateTime = d.toISOString();
    el.textContent = timeFormat.format(d);
    el.title = fullFormat.format(d);
  }

  const bytes = (s) => new TextEncoder().encode(s).length;

  function make(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  let page = ''; // 'start', 'chat' or 'signin'

  function show(p) {
    page = p;
    ui.start.hidden = p !== 'start';
    ui.chat.hidden = p !== 'chat';
    ui.signin.hidden = p !== 'signin';
    showSignedOut();
  }

  // showText shows text (Markdown) as a message's content.
  function showText(li, text) {
    li.source = text;
    window.ChatMarkdown.update(li.querySelector('.text'), text);
  }

  // ---- scrolling ---------------------------------------------------------------------------

  function nearEnd() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < NEAR_END_PX;
  }

  // scrollToEnd keeps the newest message in view when really (the reader was at the end);
  // otherwise the view stays where the reader put it, and the button to the end shows.
  function scrollToEnd(really) {
    if (really) ui.log.scrollTop = ui.log.scrollHeight;
    updateToEnd();
  }

  function updateToEnd() {
    ui.toEnd.hidden = ui.chat.hidden || nearEnd();
  }

  ui.log.addEventListener('scroll', updateToEnd, { passive: true });
  ui.toEnd.addEventListener('click', () => {
    ui.log.scrollTop = ui.log.scrollHeight;
    updateToEnd();
    ui.input.focus();
  });

  // ---- copying code ------------------------------------------------------------------------

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (_) { /* refused: try the old way */ }
    }
    // Plain http (a phone on the LAN) has no clipboard API: select a hidden copy and copy it.
    const ta = make('textarea', 'clipboard');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.setAttribute('aria-hidden', 'true');
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
    ta.remove();
    return ok;
  }

  // The Copy buttons of code blocks (markdown.js makes them; one listener serves them all).
  ui.messages.addEventListener('click', async (e) => {
    const b = e.target.closest('button.copy');
    if (!b) return;
    const code = b.closest('.code-block').querySelector('pre code').textContent;
    const ok = await copyText(code);
    if (document.activeElement !== b && b.isConnected) b.focus();
    b.textContent = ok ? 'Copied' : 'Copy failed';
    b.dataset.state = ok ? 'copied' : 'failed';
    clearTimeout(b.resetTimer);
    b.resetTimer = setTimeout(() => {
      b.textContent = 'Copy';
      delete b.dataset.state;
    }, 2000);
  });

  // ---- the side panel: conversations -------------------------------------------------------

  const narrow = window.matchMedia('(max-width: 899px)'); // the panel is a drawer (style.css)

  let listShown = ''; // what the list shows now, to redraw it only when that changes

  function renderList() {
    const list = source.all();
    const open = current ? current.token : '';
    ui.app.dataset.convs = String(list.length);
    const shown = JSON.stringify([open, list.map((e) => [e.token, e.title, e.name, e.active])]);
    if (shown === listShown) return;
    listShown = shown;
    // Keep the keyboard focus on the same item across the redraw.
    const focused = document.activeElement && document.activeElement.closest('.conv');
    const focusToken = focused ? focused.token : '';
    const focusDelete = !!focused && document.activeElement.classList.contains('conv-delete');
    ui.convs.replaceChildren(...list.map((e) => listItem(e, e.token === open)));
    if (focusToken) {
      const li = [...ui.convs.children].find((x) => x.token === focusToken);
      const target = li && li.querySelector(focusDelete ? '.conv-delete' : '.conv-open');
      (target || ui.sideNew).focus();
    }
  }

  function listItem(e, isOpen) {
    const li = make('li', 'conv');
    li.token = e.token;
    const title = e.title || 'New chat';
    const open = make('button', 'conv-open');
    open.type = 'button';
    if (isOpen) open.setAttribute('aria-current', 'page');
    const when = new Date(e.active || 0);
    const today = new Date().toDateString() === when.toDateString();
    open.append(make('span', 'conv-title', title),
      make('span', 'conv-meta', `${e.name || ''} · ${today ? timeFormat.format(when) : dayFormat.format(when)}`));
    open.addEventListener('click', () => switchTo(e.token));
    // Delete takes two presses: the first asks, the second deletes.
    const del = make('button', 'conv-delete icon', '×');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete chat: ${title}`);
    let confirmTimer = 0;
    const reset = () => {
      clearTimeout(confirmTimer);
      delete del.dataset.confirm;
      del.textContent = '×';
      del.setAttribute('aria-label', `Delete chat: ${title}`);
    };
    del.addEventListener('click', async () => {
      if (!del.dataset.confirm) {
        del.dataset.confirm = '1';
        del.textContent = 'Delete?';
        del.setAttribute('aria-label', `Press again to delete: ${title}`);
        confirmTimer = setTimeout(reset, CONFIRM_MS);
        return;
      }
      reset();
      del.disabled = true;
      if (!(await deleteConversation(e.token))) del.disabled = false;
    });
    del.addEventListener('blur', reset);
    li.append(open, del);
    return li;
  }

  function openDrawer() {
    ui.app.classList.add('drawer-open');
    ui.scrim.hidden = false;
    ui.sideOpen.setAttribute('aria-expanded', 'true');
    ui.main.inert = true;
    const here = ui.convs.querySelector('[aria-current]') || ui.sideNew;
    here.focus();
  }

  function closeDrawer(focusBack) {
    if (!ui.app.classList.contains('drawer-open')) return;
    ui.app.classList.remove('drawer-open');
    ui.scrim.hidden = true;
    ui.sideOpen.setAttribute('aria-expanded', 'false');
    ui.main.inert = false;
    if (focusBack) ui.sideOpen.focus();
  }

  ui.sideOpen.addEventListener('click', openDrawer);
  ui.sideClose.addEventListener('click', () => closeDrawer(true));
  ui.scrim.addEventListener('click', () => closeDrawer(true));
  ui.side.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(true); });
  narrow.addEventListener('change', () => closeDrawer(false));

  // ---- opening, starting and deleting conversations ----------------------------------------

  let current = null; // the open Chat

  // openConversation shows the conversation of entry; fresh means it was just created
  // (messages is all there is to show).
  function openConversation(entry, messages, fresh) {
    if (current) current.close();
    current = new Chat(entry);
    setItem(CURRENT_KEY, entry.token);
    renderList();
    current.start(messages || [], fresh);
  }

  function knownName() {
    return auth.name() || (current && current.name) || getItem(NAME_KEY) || (source.all()[0] || {}).name || '';
  }

  // createSession opens a new session (POST /token) named name, and lists it.
  async function createSession(name) {
    let res;
    try {
      res = await api('token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      });
    } catch (_) {
      throw new Error('Cannot reach the server. Check the connection and try again.');
    }
    const body = await res.json().catch(() => null);
    if (res.status === 429) throw new Error('Too many new chats from this address. Try again in a minute.');
    if (!res.ok || !body || !body.token) {
      const d = body && body.detail;
      throw new Error((d && (d.msg || (typeof d === 'string' && d))) || `The server refused: ${res.status}.`);
    }
    const entry = { token: body.token, name: body.name || name, title: '', offset: '0', active: Date.now() };
    source.put(entry);
    setItem(NAME_KEY, entry.name);
    return { entry, messages: body.messages || [] };
  }

  // newChat starts a conversation with the name last used (or asks for one).
  async function newChat() {
    closeDrawer(false);
    const name = knownName();
    if (!name) {
      leaveToStart('');
      return;
    }
    for (const b of [ui.newChat, ui.sideNew, ui.restart]) b.disabled = true;
    try {
      const { entry, messages } = await createSession(name);
      openConversation(entry, messages, true);
    } catch (err) {
      leaveToStart(name);
      startError(err.message);
    } finally {
      for (const b of [ui.newChat, ui.sideNew, ui.restart]) b.disabled = false;
    }
  }

  function leaveToStart(prefill) {
    if (current) current.close();
    current = null;
    setItem(CURRENT_KEY, '');
    ui.messages.replaceChildren();
    renderList();
    startPage(prefill);
  }

  function switchTo(token) {
    closeDrawer(false);
    if (current && current.token === token) {
      ui.input.focus();
      return;
    }
    const entry = source.get(token);
    if (entry) openConversation(entry, []);
  }

  // deleteConversation deletes a session on the server (DELETE /token) and from the list.
  async function deleteConversation(token) {
    let res;
    try {
      res = await api(`token?token=${encodeURIComponent(token)}`, { method: 'DELETE' });
    } catch (_) {
      tell('Cannot reach the server: the chat was not deleted.');
      return false;
    }
    if (!res.ok) {
      tell(`The server did not delete the chat (${res.status}).`);
      return false;
    }
    const wasOpen = current && current.token === token;
    if (wasOpen) {
      current.close();
      current = null;
    }
    source.drop(token);
    if (wasOpen) {
      const next = source.all()[0];
      if (next) openConversation(next, []); else leaveToStart(knownName());
    }
    return true;
  }

  // tell shows text where the user is looking: the chat's notice, or the start page's error.
  function tell(text) {
    if (!ui.chat.hidden) notice(text); else startError(text);
  }

  // ---- start page --------------------------------------------------------------------------

  function startPage(prefill) {
    if (auth.signedOut()) {
      signInPage();
      return;
    }
    show('start');
    document.title = 'Start a chat';
    ui.startError.hidden = true;
    ui.startButton.disabled = false;
    // Signed in with a name (auth.mode jwt): the server names the chat after it.
    const signedIn = auth.name();
    ui.nameLabel.hidden = ui.name.hidden = !!signedIn;
    ui.lede.textContent = signedIn
      ? `Signed in as ${signedIn}. Replies appear as they are written.`
      : 'Say who you are and start talking. Replies appear as they are written.';
    if (signedIn) ui.name.value = signedIn;
    else if (prefill) ui.name.value = prefill;
    (signedIn ? ui.startButton : ui.name).focus();
  }

  // ---- signed out (auth.mode jwt) ----------------------------------------------------------

  const SIGNED_OUT_TEXT = {
    expired: 'Your sign-in has expired.',
    refused: 'Your sign-in was not accepted.',
    missing: 'This chat is part of an application: sign in there to use it.',
  };

  function howToSignIn() {
    return auth.embedded
      ? 'Waiting for the application to sign you in again…'
      : 'Sign in again in the application that opened this chat, or open its sign-in link again in this tab.';
  }

  // signInPage is the page of a user who must sign in and has no conversation open.
  function signInPage() {
    show('signin');
    document.title = 'Sign in to chat';
  }

  // showSignedOut shows, where the user is, that they must sign in again (or that they are
  // back): the sign-in page, or a note above the open conversation, which goes on afterwards.
  function showSignedOut() {
    const why = auth.signedOut();
    const text = SIGNED_OUT_TEXT[why] || SIGNED_OUT_TEXT.refused;
    ui.signinWhy.textContent = text;
    ui.signinHow.textContent = why === 'missing' && !auth.embedded
      ? 'Open the chat from the application, or with its sign-in link.'
      : howToSignIn();
    ui.reauthText.textContent = `${text} ${howToSignIn()} The conversation goes on where it stopped.`;
    ui.reauth.hidden = !why || page !== 'chat';
    // Who is signed in, always in view in the side panel: a link can sign a browser in as
    // anyone whose JWT it holds (SECURITY.md), so the page says whom it talks for.
    const name = auth.name();
    ui.sideUser.hidden = !name;
    ui.sideUser.textContent = name ? `Signed in as ${name}` : '';
  }

  auth.onChange(() => {
    if (page === 'start' && auth.signedOut()) signInPage();
    else if (page === 'signin' && !auth.signedOut() && booted) startPage(knownName());
    else showSignedOut();
  });

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
      const { entry, messages } = await createSession(name);
      openConversation(entry, messages, true);
    } catch (err) {
      startError(err.message);
    } finally {
      ui.startButton.disabled = false;
    }
  });

  ui.newChat.addEventListener('click', newChat);
  ui.sideNew.addEventListener('click', newChat);
  ui.restart.addEventListener('click', newChat);
  ui.noticeClose.addEventListener('click', () => { ui.notice.hidden = true; ui.input.focus(); });

  let noticeTimer = 0;

  function notice(text) {
    ui.noticeText.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, NOTICE_MS);
  }
  class Chat {
    constructor(entry) {
      this.token = entry.token;
      this.name = entry.name || '';
      this.title = entry.title || '';
      // lastOffset: the newest frame handled (resume point of this page's reconnects).
      // savedOffset: the newest frame after which no reply was half-streamed; a reload resumes
      // from it, so a reply in progress is replayed from its first delta.
      this.lastOffset = entry.offset || '0';
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
      this.regen = null; // the regenerate command sent and not acknowledged yet: {cid}
      this.syncing = null;
      this.synced = false; // the history was loaded once
      this.signingIn = false; // waiting for a new JWT (auth.mode jwt)
      this.onOnline = () => this.reconnectNow();
      this.onOffline = () => this.setConn('offline', 'Offline');
      this.onVisible = () => { if (document.visibilityState === 'visible') this.reconnectNow(); };
    }

    start(messages, fresh) {
      show('chat');
      this.showTitle();
      ui.messages.replaceChildren();
      ui.expired.hidden = true;
      ui.composer.hidden = false;
      ui.notice.hidden = true;
      this.applyHistory(messages);
      this.refreshEmpty();
      this.updateStop();
      ui.input.focus();
      scrollToEnd(true);
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
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
      document.removeEventListener('visibilitychange', this.onVisible);
      if (this.ws) this.ws.close(1000, 'page left the chat');
      this.ws = null;
    }

    persist() {
      source.put({ token: this.token, offset: this.savedOffset });
    }

    showTitle() {
      ui.title.textContent = this.title || 'New chat';
      document.title = this.title ? `${this.title} · Chat` : 'Chat';
    }

    // setTitle names the conversation after its first message, once.
    setTitle(title) {
      if (this.title || !title) return;
      this.title = title;
      this.showTitle();
      source.put({ token: this.token, title });
    }

    // sync loads the conversation from /refresh_token and merges it into the page. It
    // resolves false when the session is gone (and shows so).
    sync() {
      if (this.syncing) return this.syncing;
      this.syncing = (async () => {
        try {
          const res = await api(`refresh_token?token=${encodeURIComponent(this.token)}`);
          if (this.closed) return false;
          if (res.status === 400 || res.status === 404) {
            this.expire();
            return false;
          }
          if (!res.ok) throw new Error(`status ${res.status}`);
          const body = await res.json();
          if (this.closed) return false; // the user went to another conversation meanwhile
          if (body.name && body.name !== this.name) {
            this.name = body.name;
            source.put({ token: this.token, name: this.name });
          }
          this.applyHistory(body.messages || []);
          this.setTitle(titleOf(body.messages || []));
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
        if (el && el.previous && this.streaming.get(m.reply_to) === el) {
          prev = el; // the reply being regenerated: its new text is on its way
          continue;
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
      scrollToEnd(true);
    }

    // ---- the socket ----

    connect() {
      if (this.closed || this.ws || this.signingIn) return;
      clearTimeout(this.retryTimer);
      const jwt = auth.token();
      if (auth.jwt && !jwt) {
        this.signIn('', '');
        return;
      }
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const base = location.pathname.replace(/[^/]*$/, '');
      const q = new URLSearchParams({ token: this.token, stream: '1', last_id: this.lastOffset || '0' });
      this.setConn(this.attempt ? 'waiting' : 'connecting', this.attempt ? 'Reconnecting…' : 'Connecting…');
      let ws;
      try {
        // With auth.mode jwt the JWT rides in the subprotocols, never in the URL.
        ws = new WebSocket(`${scheme}//${location.host}${base}chat?${q}`, auth.protocols(jwt));
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
        this.transmitRegenerate();
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
        this.onClosed(ev, jwt);
      };
    }

    // onClosed handles the end of the socket that had jwt.
    onClosed(ev, jwt) {
      if (this.closed) return;
      const stable = this.openedAt && Date.now() - this.openedAt >= STABLE_MS;
      this.openedAt = 0;
      if (stable) this.attempt = 0;
      this.updateStop();
      if (ev.code === CLOSE_POLICY && auth.jwt && AUTH_REASONS.has(ev.reason)) {
        this.signIn(jwt, ev.reason);
        return;
      }
      if (ev.code === CLOSE_POLICY) {
        // Most likely the session expired or was deleted; make sure before forgetting it.
        this.setConn('waiting', 'Checking the session…');
        this.sync().then((ok) => {
          if (!ok) return;
          notice(ev.reason || 'The server closed the connection.');
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

    // signIn waits for a JWT other than jwt (refused, or '' for none), then connects again
    // and resumes from the last offset; meanwhile the page says the user must sign in again.
    signIn(jwt, reason) {
      if (this.signingIn) return;
      this.signingIn = true;
      clearTimeout(this.retryTimer);
      this.setConn('signed-out', 'Signed out');
      auth.refused(jwt, reason).then(() => {
        this.signingIn = false;
        if (this.closed) return;
        this.attempt = 0;
        this.connect();
      });
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
      if (f.reply_to) {
        this.onRegenerating(f);
      } else if (f.client_id && this.unacked.has(f.client_id)) {
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
        // Screen readers say the reply once it is written (aria-busy), not word by word.
        el.setAttribute('aria-live', 'polite');
        el.setAttribute('aria-busy', 'true');
        setTime(el.querySelector('time'));
        this.place(el, f.reply_to);
        this.streaming.set(f.reply_to, el);
      }
      const stick = nearEnd();
      showText(el, (f.restart ? '' : el.source || '') + (f.text || ''));
      this.updateStop();
      scrollToEnd(stick);
    }

    // onRegenerating: the ack of a regenerate command (from this page or any other), which
    // names the message answered again (reply_to) and the reply to be replaced (replaces, none
    // when that turn failed). That reply becomes the one being written: its text stays until
    // the new one's first delta. If it is not on the page, the new reply is shown already.
    onRegenerating(f) {
      if (this.regen && f.client_id === this.regen.cid) this.regen = null;
      const human = f.reply_to;
      if (this.streaming.has(human)) return;
      let el = f.replaces ? this.byID.get(f.replaces) : this.replyAfter(human);
      if (!f.replaces && el && el.dataset.id) return; // its new reply is here already
      if (!el && f.replaces) return;
      if (!el) {
        el = this.bubble('bot');
        setTime(el.querySelector('time'));
        this.place(el, human);
      }
      el.previous = { source: el.source || '', state: el.dataset.state || '', error: el.classList.contains('error') };
      el.classList.remove('error');
      el.classList.add('streaming');
      el.setAttribute('aria-live', 'polite');
      el.setAttribute('aria-busy', 'true');
      el.dataset.state = 'regenerating';
      el.dataset.replyTo = human;
      el.source = ''; // the first delta starts the new text
      el.querySelector('.status').textContent = 'Regenerating…';
      el.querySelector('.actions').replaceChildren();
      this.answered.delete(human);
      this.streaming.set(human, el);
      this.updateStop();
    }

    // replyAfter is the reply shown right after the message id, if any.
    replyAfter(id) {
      const q = this.byID.get(id);
      const r = q && q.nextElementSibling;
      return r && r.dataset.role === 'bot' && r.dataset.replyTo === id ? r : null;
    }

    onMessage(f) {
      if (!f.id || this.byID.has(f.id)) return;
      const stick = nearEnd();
      let el = f.reply_to && this.streaming.get(f.reply_to);
      if (el) {
        this.streaming.delete(f.reply_to);
      } else if (f.replaces && this.byID.has(f.replaces)) {
        el = this.byID.get(f.replaces); // regenerated while this page did not watch
      } else {
        el = this.bubble(f.role === 'human' ? 'human' : 'bot');
        this.place(el, f.reply_to);
      }
      if (f.replaces && this.byID.get(f.replaces) === el) this.byID.delete(f.replaces);
      delete el.previous;
      this.fill(el, f);
      if (f.reply_to) this.answered.add(f.reply_to);
      source.put({ token: this.token, active: Date.now() });
      this.stopping = false;
      this.refreshEmpty();
      this.updateStop();
      scrollToEnd(stick);
    }

    onError(f) {
      const text = f.msg || ERROR_TEXT[f.code] || 'Something went wrong.';
      if (this.regen && f.client_id && f.client_id === this.regen.cid) {
        // The regenerate command was refused (cannot_regenerate, a rate limit, unavailable).
        this.regen = null;
        this.updateStop();
        notice(text);
        return;
      }
      switch (f.code) {
        case 'history_truncated':
          notice(ERROR_TEXT.history_truncated);
          this.sync();
          return;
        case 'model_error': {
          if (!f.reply_to) break;
          const stick = nearEnd();
          let el = this.streaming.get(f.reply_to);
          this.streaming.delete(f.reply_to);
          if (el && el.previous) {
            // A regeneration failed: the reply it was to replace stays (so does the history).
            this.restore(el);
            this.answered.add(f.reply_to);
            this.stopping = false;
            this.updateStop();
            notice('The model could not write a new reply; the previous one stays.');
            return;
          }
          if (!el) {
            el = this.bubble('bot');
            this.place(el, f.reply_to);
          }
          el.classList.remove('streaming');
          el.classList.add('error');
          el.removeAttribute('aria-busy');
          el.dataset.replyTo = f.reply_to;
          showText(el, `${ERROR_TEXT.model_error} ${f.msg || ''}`.trim());
          setTime(el.querySelector('time'));
          this.answered.add(f.reply_to);
          this.stopping = false;
          this.updateStop();
          scrollToEnd(stick);
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
      notice(text);
    }

    tooBig() {
      // The server closed on a frame over its limit: the newest message not acknowledged.
      const last = [...this.unacked.values()].filter((m) => m.state === 'sending').pop();
      if (last) this.failed(last, 'Too long, not sent', false);
      notice('That message is too long for the server. Shorten it and send it again.');
    }

    // ---- the page ----

    // bubble makes an empty message element.
    bubble(role) {
      const li = document.createElement('li');
      li.className = `msg ${role}`;
      li.dataset.role = role;
      const b = document.createElement('div');
      b.className = 'bubble';
      const text = document.createElement('div');
      text.className = 'text';
      b.append(text);
      const meta = document.createElement('div');
      meta.className = 'meta';
      const who = document.createElement('span');
      who.className = 'visually-hidden';
      who.textContent = role === 'bot' ? 'Assistant, ' : 'You, ';
      const t = document.createElement('time');
      const status = document.createElement('span');
      status.className = 'status';
      const actions = document.createElement('span');
      actions.className = 'actions';
      meta.append(who, t, status, actions);
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
      showText(el, m.msg == null ? '' : String(m.msg));
      setTime(el.querySelector('time'), m.timestamp);
      const status = el.querySelector('.status');
      status.replaceChildren();
      if (m.stopped) {
        const tag = document.createElement('span');
        tag.className = 'stopped-tag';
        tag.textContent = 'Stopped';
        status.append(tag);
      }
      el.querySelector('.actions').replaceChildren(...this.messageActions(el, m));
      this.byID.set(m.id, el);
    }

    // messageActions are the buttons under a stored message: none of its own (the Regenerate
    // button goes under the last reply only: updateActions).
    messageActions(/* el, m */) {
      return [];
    }

    // restore shows again the reply a failed regeneration was to replace.
    restore(el) {
      const p = el.previous;
      delete el.previous;
      el.classList.remove('streaming');
      el.classList.toggle('error', p.error);
      el.removeAttribute('aria-busy');
      el.dataset.state = p.state;
      el.querySelector('.status').replaceChildren();
      showText(el, p.source);
    }

    // updateActions puts the Regenerate button under the last reply when nothing is waiting for
    // one (the server refuses it otherwise), and nowhere else.
    updateActions(waiting, open) {
      const last = ui.messages.lastElementChild;
      const can = !waiting && !this.regen && !!last && last.dataset.role === 'bot' &&
        !!last.dataset.replyTo && !last.classList.contains('streaming') && ui.expired.hidden;
      for (const b of ui.messages.querySelectorAll('button.regenerate')) {
        if (!can || b.closest('.msg') !== last) b.remove();
      }
      if (!can) return;
      let b = last.querySelector('button.regenerate');
      if (!b) {
        b = make('button', 'regenerate link', 'Regenerate');
        b.type = 'button';
        b.title = 'Write this reply again';
        b.addEventListener('click', () => this.regenerate());
        last.querySelector('.actions').append(b);
      }
      b.disabled = !open;
    }

    // regenerate asks for the last reply again; the ack, which every page of the session gets,
    // turns that reply into the one being written.
    regenerate() {
      if (this.regen || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.regen = { cid: newID() };
      this.transmitRegenerate();
      this.updateStop();
      ui.input.focus();
    }

    // transmitRegenerate sends the regenerate command not acknowledged yet (again, after a
    // reconnect: its client_id makes it idempotent).
    transmitRegenerate() {
      if (!this.regen || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({ type: 'regenerate', client_id: this.regen.cid }));
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
        notice(`That message is too long to send (${size} bytes with its envelope; the limit is ${MAX_FRAME_BYTES}). Shorten it.`);
        return false;
      }
      const el = this.bubble('human');
      el.dataset.clientId = cid;
      el.dataset.state = 'sending';
      showText(el, text);
      setTime(el.querySelector('time'));
      el.querySelector('.status').textContent = 'Sending…';
      ui.messages.append(el);
      this.unacked.set(cid, { el, text, state: 'sending' });
      this.setTitle(titleOf(text));
      source.put({ token: this.token, active: Date.now() });
      this.refreshEmpty();
      scrollToEnd(true);
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

    // updateStop shows Stop while a message of ours waits for its reply (and Regenerate, under
    // the last reply, when none does).
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
      this.updateActions(waiting, open);
    }

    expire() {
      this.close();
      source.drop(this.token);
      setItem(CURRENT_KEY, '');
      this.setConn('expired', 'Session ended');
      ui.composer.hidden = true;
      ui.notice.hidden = true;
      ui.stop.hidden = true;
      ui.expired.hidden = false;
      for (const b of ui.messages.querySelectorAll('.status button, button.regenerate')) b.disabled = true;
      ui.restart.focus();
    }

    refreshEmpty() {
      ui.empty.hidden = ui.messages.childElementCount > 0;
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

  let booted = false;
  let listCheckedAt = 0;

  // The conversation open last, else the most recent one, else the start page.
  function openLast() {
    const last = source.get(getItem(CURRENT_KEY)) || source.all()[0];
    if (last) openConversation(last, []);
    else startPage(getItem(NAME_KEY));
    renderList();
    return last;
  }

  async function boot() {
    const mode = await auth.detect(`sessions?limit=100`);
    if (!mode.jwt) {
      // auth.mode none: the conversations this browser opened. The open one checks itself as
      // it loads; the others are checked now.
      source = window.ChatConversations.local();
      source.onChange(renderList);
      booted = true;
      const last = openLast();
      source.check(last && last.token);
      return;
    }
    // auth.mode jwt: the user's sessions, from the server. Signed out, the page waits for a
    // JWT (check asks with it) before it shows anything else.
    source = window.ChatConversations.remote(api, mode.list);
    source.onChange(renderList);
    if (!mode.list || mode.list.next) {
      if (!mode.list) signInPage();
      await source.check();
    }
    listCheckedAt = Date.now();
    booted = true;
    openLast();
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible' || auth.signedOut() || Date.now() - listCheckedAt < LIST_CHECK_MS) return;
      listCheckedAt = Date.now();
      source.check();
    });
  }

  boot();
})();
