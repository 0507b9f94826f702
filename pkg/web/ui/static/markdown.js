// chatbot web UI: Markdown, built as DOM nodes.
//
// ChatMarkdown.update(container, source) shows source (Markdown, as models write it) in
// container. It never parses HTML: every element is made with createElement from a short list,
// every piece of text is a text node, and the only attributes set from the source are the
// href (http:, https: and mailto: URLs only; rel="noopener noreferrer", target=_blank) and title
// of links, a code block's language (as text and data-lang) and a list's start number; the rest
// are fixed ones of its own (class, type, aria-label). Raw HTML in the source is shown as the
// text it is. So nothing a model (or a user) writes can run or load anything.
//
// What it reads: paragraphs (a newline is a line break, as chat users expect), ATX headings,
// thematic breaks, block quotes, bullet and ordered lists (nested; task items), GFM tables with
// alignment, fenced code (``` or ~~~; an unclosed fence runs to the end, so code being
// streamed shows as code), indented code; inline: code spans, emphasis, strong,
// strikethrough, links, autolinks (<…> and bare http(s)/www URLs), backslash escapes, a few
// character references. Images are shown as links (the page loads no image from elsewhere).
// Not read: raw HTML, setext headings, reference links, footnotes.
//
// Streaming: when the text only grew, update() reads again from its last block on (the blocks
// before it cannot change), keeps the DOM of every block whose source has not changed, and
// grows the text of a code block in place; so a reply being written does not flicker, the
// earlier blocks keep their selection and focus, and the work per delta is the size of the
// last block, not of the whole reply.
(() => {
  'use strict';

  const MAX_DEPTH = 12; // nesting of quotes and lists; deeper is read as text
  const MAX_INLINE_STEPS = 200000; // emphasis matching work per paragraph; past it, the rest is text
  const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

  // ---- lines ---------------------------------------------------------------------------------

  // expandTabs turns the tabs of a line's leading white space into spaces (tab stops of 4).
  function expandTabs(line) {
    if (!line.includes('\t')) return line;
    let col = 0;
    let i = 0;
    let out = '';
    for (; i < line.length; i++) {
      const c = line[i];
      if (c === ' ') { out += ' '; col++; } else if (c === '\t') {
        const n = 4 - (col % 4);
        out += ' '.repeat(n);
        col += n;
      } else break;
    }
    return out + line.slice(i);
  }

  const indentOf = (line) => line.length - line.trimStart().length;
  const isBlank = (line) => line.trim() === '';

  const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
  const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
  const QUOTE = /^ {0,3}> ?/;
  const ITEM = /^( {0,3})([-+*]|\d{1,9}[.)])([ \t]+|$)(.*)$/;
  const DELIM_ROW = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

  // fenceOf reads an opening code fence: ``` or ~~~ (3 or more), then the language.
  function fenceOf(line) {
    const m = /^( {0,3})(`{3,}|~{3,})(.*)$/.exec(line);
    if (!m) return null;
    const info = m[3].trim();
    if (m[2][0] === '`' && info.includes('`')) return null; // an inline code span
    return { indent: m[1].length, marker: m[2], info: info.split(/\s+/)[0] };
  }

  // itemOf reads a list item's first line: its marker, and where its content begins (width).
  function itemOf(line) {
    const m = ITEM.exec(line);
    if (!m) return null;
    const marker = m[2];
    const ordered = /\d/.test(marker[0]);
    const indent = m[1].length;
    const spaces = m[3].replace(/\t/g, ' ').length;
    let width = indent + marker.length + spaces;
    let content = m[4];
    if (m[4] === '') {
      width = indent + marker.length + 1; // an item that starts empty
    } else if (spaces > 4) {
      // Five or more spaces: one belongs to the marker, the rest indents the content.
      width = indent + marker.length + 1;
      content = ' '.repeat(spaces - 1) + m[4];
    }
    return {
      indent, ordered, width, content,
      start: ordered ? parseInt(marker, 10) : 0,
      delim: ordered ? marker[marker.length - 1] : marker,
    };
  }

  // splitRow splits a table row into its cells at the pipes not escaped by a backslash.
  function splitRow(line) {
    let s = line.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    const cells = [];
    let cur = '';
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === '\\' && s[i + 1] === '|') { cur += '|'; i++; continue; }
      if (c === '|') { cells.push(cur.trim()); cur = ''; continue; }
      cur += c;
    }
    cells.push(cur.trim());
    return cells;
  }

  function tableStart(lines, i) {
    const head = lines[i];
    const delim = lines[i + 1];
    if (delim === undefined || !head.includes('|') || !delim.includes('|') || !DELIM_ROW.test(delim)) return null;
    const cols = splitRow(head);
    const aligns = splitRow(delim).map((c) => {
      const left = c.startsWith(':');
      const right = c.endsWith(':');
      return left && right ? 'center' : right ? 'right' : left ? 'left' : '';
    });
    if (cols.length !== aligns.length) return null;
    return { cols, aligns };
  }

  // startsBlock: line begins something other than a paragraph (so it ends one). A table's
  // header row does too: models write "Here it is:" and the table on the next line.
  function startsBlock(lines, i) {
    const line = lines[i];
    if (fenceOf(line) || HEADING.test(line) || HR.test(line) || QUOTE.test(line)) return true;
    const it = itemOf(line);
    // As in CommonMark, only a list item with text, and an ordered one only from 1, interrupts.
    if (it && it.content.trim() !== '' && (!it.ordered || it.start === 1)) return true;
    return !!tableStart(lines, i);
  }

  // ---- blocks --------------------------------------------------------------------------------

  // parseBlocks reads lines into blocks. Each block knows the lines it came from (from, to).
  // raw, at the top level, are the lines as written (tabs kept), for the text of code blocks.
  function parseBlocks(lines, depth, raw) {
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) { i++; continue; }
      const from = i;
      const fence = fenceOf(line);
      if (fence) {
        const body = [];
        let closed = false;
        i++;
        for (; i < lines.length; i++) {
          const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(lines[i]);
          if (close && close[1][0] === fence.marker[0] && close[1].length >= fence.marker.length) {
            closed = true;
            i++;
            break;
          }
          const l = raw ? raw[i] : lines[i];
          body.push(l.slice(Math.min(fence.indent, l.length - l.replace(/^ +/, '').length)));
        }
        out.push({ type: 'code', lang: fence.info, text: body.join('\n'), closed, from, to: i });
        continue;
      }
      let m = HEADING.exec(line);
      if (m) {
        out.push({ type: 'heading', level: m[1].length, text: m[2] || '', from, to: ++i });
        continue;
      }
      if (HR.test(line)) {
        out.push({ type: 'hr', from, to: ++i });
        continue;
      }
      if (depth < MAX_DEPTH && QUOTE.test(line)) {
        const inner = [];
        while (i < lines.length && !isBlank(lines[i])) {
          const l = lines[i];
          if (QUOTE.test(l)) inner.push(l.replace(QUOTE, ''));
          else if (startsBlock(lines, i)) break;
          else inner.push(l); // a lazy continuation line
          i++;
        }
        out.push({ type: 'quote', children: parseBlocks(inner, depth + 1), from, to: i });
        continue;
      }
      const item = depth < MAX_DEPTH && itemOf(line);
      if (item) {
        const list = parseList(lines, i, item, depth);
        i = list.to;
        list.from = from;
        out.push(list);
        continue;
      }
      const table = tableStart(lines, i);
      if (table) {
        const rows = [];
        i += 2;
        while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines, i)) {
          const cells = splitRow(lines[i]);
          rows.push(table.cols.map((_, c) => cells[c] || ''));
          i++;
        }
        out.push({ type: 'table', head: table.cols, aligns: table.aligns, rows, from, to: i });
        continue;
      }
      if (indentOf(line) >= 4) {
        const body = [];
        while (i < lines.length && (indentOf(lines[i]) >= 4 || isBlank(lines[i]))) body.push(lines[i++].slice(4));
        while (body.length && isBlank(body[body.length - 1])) body.pop();
        out.push({ type: 'code', lang: '', text: body.join('\n'), closed: true, from, to: i });
        continue;
      }
      const para = [line.trim()];
      i++;
      while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines, i)) {
        para.push(lines[i].trim());
        i++;
      }
      out.push({ type: 'para', text: para.join('\n'), from, to: i });
    }
    return out;
  }

  // parseList reads the list whose first item, first found at lines[i], is first.
  function parseList(lines, i, first, depth) {
    const list = { type: 'list', ordered: first.ordered, start: first.start, items: [], loose: false };
    let item = first;
    while (item) {
      const body = [item.content];
      // A nested line is one indented past the marker; two spaces are enough (models often
      // indent nested items under "1." by two).
      const inside = Math.min(item.width, item.indent + 2);
      let blankBefore = false;
      let sawBlank = false;
      i++;
      for (; i < lines.length; i++) {
        const l = lines[i];
        if (isBlank(l)) { body.push(''); blankBefore = true; continue; }
        const ind = indentOf(l);
        if (ind >= inside) {
          if (blankBefore) sawBlank = true;
          body.push(l.slice(Math.min(ind, item.width)));
          blankBefore = false;
          continue;
        }
        if (!blankBefore && !startsBlock(lines, i) && !itemOf(l)) {
          body.push(l.trim()); // a lazy continuation of the item's paragraph
          continue;
        }
        break;
      }
      while (body.length > 1 && body[body.length - 1] === '') body.pop();
      const children = parseBlocks(body, depth + 1);
      if (sawBlank && children.length > 1) list.loose = true;
      let task = null;
      const t = children[0] && children[0].type === 'para' && /^\[([ xX])\][ \t]+/.exec(children[0].text);
      if (t) {
        task = t[1] !== ' ';
        children[0].text = children[0].text.slice(t[0].length);
      }
      list.items.push({ children, task });
      const next = i < lines.length && itemOf(lines[i]);
      if (next && next.ordered === list.ordered && next.delim === item.delim && next.indent < inside) {
        if (blankBefore) list.loose = true;
        item = next;
      } else {
        item = null;
      }
    }
    list.to = i;
    return list;
  }

  // ---- inline --------------------------------------------------------------------------------

  const PUNCT = /[!-/:-@[-`{-~\p{P}\p{S}]/u;
  const SPACE = /\s/u;
  const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '©', reg: '®', hellip: '…', mdash: '—', ndash: '–' };

  // parseInline reads text into nodes: strings, {t: 'code'|'br'|'link'|'em'|'strong'|'del'}
  // and delimiter runs, then pairs the runs into emphasis.
  function parseInline(text, noLinks) {
    const items = [];
    let buf = '';
    const flush = () => { if (buf) { items.push(buf); buf = ''; } };
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text[i];
      if (c === '\\') {
        const d = text[i + 1];
        if (d === '\n') { flush(); items.push({ t: 'br' }); i += 2; continue; }
        if (d !== undefined && /[!-/:-@[-`{-~]/.test(d)) { buf += d; i += 2; continue; }
        buf += c; i++; continue;
      }
      if (c === '\n') {
        buf = buf.replace(/ +$/, '');
        flush();
        items.push({ t: 'br' });
        i++;
        while (text[i] === ' ') i++;
        continue;
      }
      if (c === '`') {
        let j = i;
        while (text[j] === '`') j++;
        const ticks = j - i;
        const end = findTicks(text, j, ticks);
        if (end < 0) { buf += text.slice(i, j); i = j; continue; }
        let code = text.slice(j, end).replace(/\n/g, ' ');
        if (code.length > 2 && code[0] === ' ' && code[code.length - 1] === ' ' && code.trim() !== '') code = code.slice(1, -1);
        flush();
        items.push({ t: 'code', text: code });
        i = end + ticks;
        continue;
      }
      if (c === '&') {
        const m = /^&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));/.exec(text.slice(i, i + 12));
        if (m) {
          const cp = m[1] ? parseInt(m[1], 10) : m[2] ? parseInt(m[2], 16) : -1;
          const ch = cp >= 0 ? (cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd') : ENTITIES[m[3]];
          if (ch !== undefined) { buf += ch; i += m[0].length; continue; }
        }
        buf += c; i++; continue;
      }
      if (!noLinks && (c === '[' || (c === '!' && text[i + 1] === '['))) {
        const link = readLink(text, c === '!' ? i + 1 : i);
        if (link) {
          flush();
          const label = parseInline(link.label, true);
          items.push({ t: 'link', href: link.href, title: link.title, image: c === '!', kids: label, raw: text.slice(i, link.end) });
          i = link.end;
          continue;
        }
      }
      if (!noLinks && c === '<') {
        const m = /^<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*)>/.exec(text.slice(i)) || /^<([^\s<>@]+@[a-zA-Z0-9.-]+)>/.exec(text.slice(i));
        if (m) {
          const href = m[1].includes(':') ? m[1] : `mailto:${m[1]}`;
          flush();
          items.push({ t: 'link', href, kids: [m[1]], raw: m[0] });
          i += m[0].length;
          continue;
        }
      }
      if (!noLinks && (c === 'h' || c === 'w') && (i === 0 || /[\s*_~(]/.test(text[i - 1]))) {
        const url = bareURL(text, i);
        if (url) {
          flush();
          items.push({ t: 'link', href: url.startsWith('www.') ? `http://${url}` : url, kids: [url], raw: url });
          i += url.length;
          continue;
        }
      }
      if (c === '*' || c === '_' || c === '~') {
        let j = i;
        while (text[j] === c) j++;
        const count = j - i;
        const before = i === 0 ? ' ' : text[i - 1];
        const after = j >= n ? ' ' : text[j];
        const left = !SPACE.test(after) && (!PUNCT.test(after) || SPACE.test(before) || PUNCT.test(before));
        const right = !SPACE.test(before) && (!PUNCT.test(before) || SPACE.test(after) || PUNCT.test(after));
        let canOpen = left;
        let canClose = right;
        if (c === '_') {
          canOpen = left && (!right || PUNCT.test(before));
          canClose = right && (!left || PUNCT.test(after));
        }
        flush();
        items.push({ t: 'delim', ch: c, n: count, orig: count, canOpen, canClose });
        i = j;
        continue;
      }
      buf += c;
      i++;
    }
    flush();
    pairEmphasis(items);
    return items;
  }

  function findTicks(text, from, ticks) {
    let i = from;
    while (i < text.length) {
      const k = text.indexOf('`', i);
      if (k < 0) return -1;
      let j = k;
      while (text[j] === '`') j++;
      if (j - k === ticks) return k;
      i = j;
    }
    return -1;
  }

  // readLink reads [label](destination "title") at text[i] === '['.
  function readLink(text, i) {
    let depth = 0;
    let j = i;
    for (; j < text.length; j++) {
      const c = text[j];
      if (c === '\\') { j++; continue; }
      if (c === '`') {
        let k = j;
        while (text[k] === '`') k++;
        const end = findTicks(text, k, k - j);
        if (end >= 0) { j = end + (k - j) - 1; continue; }
        j = k - 1;
        continue;
      }
      if (c === '[') depth++;
      else if (c === ']' && --depth === 0) break;
    }
    if (j >= text.length || text[j + 1] !== '(') return null;
    const label = text.slice(i + 1, j);
    let k = j + 2;
    while (text[k] === ' ' || text[k] === '\n') k++;
    let href = '';
    if (text[k] === '<') {
      const end = text.indexOf('>', k);
      if (end < 0 || text.slice(k, end).includes('\n')) return null;
      href = text.slice(k + 1, end);
      k = end + 1;
    } else {
      let parens = 0;
      const s = k;
      for (; k < text.length; k++) {
        const c = text[k];
        if (c === '\\' && k + 1 < text.length) { k++; continue; }
        if (c === '(') parens++;
        else if (c === ')') { if (parens === 0) break; parens--; } else if (/\s/.test(c)) break;
      }
      href = text.slice(s, k).replace(/\\([!-/:-@[-`{-~])/g, '$1');
    }
    while (text[k] === ' ' || text[k] === '\n') k++;
    let title = '';
    const q = text[k];
    if (q === '"' || q === "'" || q === '(') {
      const close = q === '(' ? ')' : q;
      const end = text.indexOf(close, k + 1);
      if (end < 0) return null;
      title = text.slice(k + 1, end);
      k = end + 1;
      while (text[k] === ' ' || text[k] === '\n') k++;
    }
    if (text[k] !== ')') return null;
    return { label, href, title, end: k + 1 };
  }

  // bareURL reads an http(s):// or www. URL at text[i], without the punctuation that ends a
  // sentence or an unbalanced closing parenthesis.
  function bareURL(text, i) {
    const m = /^(?:https?:\/\/|www\.)[^\s<]+/.exec(text.slice(i, i + 2048));
    if (!m) return '';
    let url = m[0];
    for (;;) {
      const last = url[url.length - 1];
      if (/[?!.,:;*_~'"]/.test(last)) { url = url.slice(0, -1); continue; }
      if (last === ')' && (url.split('(').length - 1) < (url.split(')').length - 1)) { url = url.slice(0, -1); continue; }
      break;
    }
    if (/^(?:https?:\/\/|www\.)$/.test(url) || (url.startsWith('www.') && !/^www\.[^.]+\./.test(`${url}.`))) return '';
    return url;
  }

  // pairEmphasis pairs the delimiter runs of items into em, strong and del nodes (CommonMark's
  // "process emphasis", with GFM's ~ and ~~). Unpaired runs stay, and show as their text.
  function pairEmphasis(items) {
    let steps = 0;
    let c = 0;
    while (c < items.length) {
      const closer = items[c];
      if (!closer || closer.t !== 'delim' || !closer.canClose || closer.n === 0) { c++; continue; }
      let found = -1;
      for (let o = c - 1; o >= 0; o--) {
        if (++steps > MAX_INLINE_STEPS) return;
        const op = items[o];
        if (op.t !== 'delim' || op.ch !== closer.ch || !op.canOpen || op.n === 0) continue;
        if (closer.ch === '~') {
          if (op.n !== closer.n || op.n > 2) continue;
        } else if ((op.canClose || closer.canOpen) && (op.orig + closer.orig) % 3 === 0 &&
                   !(op.orig % 3 === 0 && closer.orig % 3 === 0)) {
          continue;
        }
        found = o;
        break;
      }
      if (found < 0) { c++; continue; }
      const op = items[found];
      let use;
      let tag;
      if (closer.ch === '~') { use = closer.n; tag = 'del'; } else {
        use = op.n >= 2 && closer.n >= 2 ? 2 : 1;
        tag = use === 2 ? 'strong' : 'em';
      }
      const kids = items.splice(found + 1, c - found - 1);
      items.splice(found + 1, 0, { t: tag, kids });
      op.n -= use;
      closer.n -= use;
      c = found + 2;
      if (op.n === 0) { items.splice(found, 1); c--; }
      if (closer.n === 0) items.splice(c, 1);
    }
  }

  // safeHref is href as an absolute http(s)/mailto URL, or '' when it is anything else
  // (javascript:, data:, relative, unparseable).
  function safeHref(href) {
    let u;
    try { u = new URL(href); } catch (_) { return ''; }
    return LINK_SCHEMES.has(u.protocol) ? u.href : '';
  }

  // ---- DOM -----------------------------------------------------------------------------------

  function el(tag, cls) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  function appendInline(parent, items) {
    for (const it of items) {
      if (typeof it === 'string') { parent.append(it); continue; }
      switch (it.t) {
        case 'br': parent.append(el('br')); break;
        case 'code': {
          const code = el('code');
          code.textContent = it.text;
          parent.append(code);
          break;
        }
        case 'em': case 'strong': case 'del': {
          const e = el(it.t);
          appendInline(e, it.kids);
          parent.append(e);
          break;
        }
        case 'link': {
          const href = safeHref(it.href);
          if (!href) { parent.append(it.raw); break; } // shown as written, not as a link
          const a = el('a', it.image ? 'image-link' : '');
          a.href = href;
          a.rel = 'noopener noreferrer';
          a.target = '_blank';
          if (it.title) a.title = it.title;
          appendInline(a, it.kids);
          if (it.image && !a.textContent) a.textContent = 'image';
          parent.append(a);
          break;
        }
        case 'delim': parent.append(it.ch.repeat(it.n)); break;
        default: break;
      }
    }
  }

  function inline(parent, text) {
    appendInline(parent, parseInline(text, false));
    return parent;
  }

  // codeBlock builds a fenced block: a head with the language and a Copy button (app.js
  // handles its clicks), and the code.
  function codeBlock(b) {
    const wrap = el('div', 'code-block');
    const head = el('div', 'code-head');
    const lang = el('span', 'code-lang');
    lang.textContent = b.lang || 'code';
    const copy = el('button', 'copy');
    copy.type = 'button';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', b.lang ? `Copy ${b.lang} code` : 'Copy code');
    head.append(lang, copy);
    const pre = el('pre');
    const code = el('code');
    code.textContent = b.text;
    pre.append(code);
    wrap.append(head, pre);
    wrap.dataset.lang = b.lang;
    return wrap;
  }

  function block(b) {
    switch (b.type) {
      case 'para': return inline(el('p'), b.text);
      case 'heading': return inline(el(`h${b.level}`), b.text);
      case 'hr': return el('hr');
      case 'code': return codeBlock(b);
      case 'quote': {
        const q = el('blockquote');
        for (const c of b.children) q.append(block(c));
        return q;
      }
      case 'list': {
        const l = el(b.ordered ? 'ol' : 'ul');
        if (b.ordered && b.start !== 1) l.start = b.start;
        for (const it of b.items) {
          const li = el('li', it.task === null ? '' : 'task');
          if (it.task !== null) {
            const box = el('span', 'task-box');
            box.setAttribute('role', 'img');
            box.setAttribute('aria-label', it.task ? 'done' : 'not done');
            box.textContent = it.task ? '\u2611' : '\u2610';
            li.append(box, ' ');
          }
          for (const c of it.children) {
            // A tight list shows its paragraphs as bare text.
            if (c.type === 'para' && !b.loose) inline(li, c.text);
            else li.append(block(c));
          }
          l.append(li);
        }
        return l;
      }
      case 'table': {
        const wrap = el('div', 'table-wrap');
        const t = el('table');
        const head = el('thead');
        const hr = el('tr');
        b.head.forEach((h, i) => hr.append(inline(el('th', b.aligns[i] && `align-${b.aligns[i]}`), h)));
        head.append(hr);
        t.append(head);
        if (b.rows.length) {
          const body = el('tbody');
          for (const r of b.rows) {
            const tr = el('tr');
            r.forEach((cell, i) => tr.append(inline(el('td', b.aligns[i] && `align-${b.aligns[i]}`), cell)));
            body.append(tr);
          }
          t.append(body);
        }
        wrap.append(t);
        return wrap;
      }
      default: return el('p');
    }
  }

  // parse reads source into top-level blocks, each with a key: its type and the lines it came
  // from. With prev, the parse of a text source continues (a reply growing), it reads again
  // only from the last block of prev on: text added at the end can change the last block,
  // never the ones before it.
  function parse(source, prev) {
    const raw = source.split('\n');
    const lines = raw.map(expandTabs);
    let start = 0;
    let kept = [];
    if (prev && prev.blocks.length && source.startsWith(prev.source)) {
      kept = prev.blocks.slice(0, -1);
      start = prev.blocks[prev.blocks.length - 1].from;
    }
    const blocks = parseBlocks(lines.slice(start), 0, raw.slice(start));
    for (const b of blocks) {
      b.from += start;
      b.to += start;
      b.key = `${b.type}\u0000${lines.slice(b.from, b.to).join('\n')}`;
    }
    return kept.concat(blocks);
  }

  const normalize = (source) => String(source || '').replace(/\r\n?/g, '\n');

  const keys = new WeakMap(); // top-level element -> the key of the block it shows
  const parsed = new WeakMap(); // container -> {source, blocks} it shows

  // update shows source in container, keeping the elements of the blocks that did not change.
  function update(container, text) {
    const source = normalize(text);
    const blocks = parse(source, parsed.get(container));
    parsed.set(container, { source, blocks });
    let k = 0;
    for (; k < blocks.length; k++) {
      const b = blocks[k];
      const cur = container.children[k];
      if (cur && keys.get(cur) === b.key) continue;
      if (cur && b.type === 'code' && cur.classList.contains('code-block') && cur.dataset.lang === b.lang) {
        // The code being written: grow its text in place.
        const code = cur.querySelector('code');
        const old = code.textContent;
        if (b.text.startsWith(old) && code.firstChild) code.firstChild.appendData(b.text.slice(old.length));
        else code.textContent = b.text;
        keys.set(cur, b.key);
        continue;
      }
      const next = block(b);
      keys.set(next, b.key);
      if (cur) cur.replaceWith(next); else container.append(next);
    }
    while (container.children.length > blocks.length) container.lastElementChild.remove();
    // Anything else in container (a text node left by older code) goes.
    for (const n of [...container.childNodes]) if (n.nodeType !== 1) n.remove();
  }

  // render returns source as a fragment of new elements.
  function render(source) {
    const f = document.createDocumentFragment();
    for (const b of parse(normalize(source))) f.append(block(b));
    return f;
  }

  window.ChatMarkdown = Object.freeze({ update, render });
})();
