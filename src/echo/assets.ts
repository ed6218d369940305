/**
 * The echo test page's three files, as strings (no build step, nothing to copy next to dist/):
 * the HTML, its one script and its one stylesheet. No inline script, style or event handler, so
 * the page runs under a Content-Security-Policy that allows only its own files (see page.ts).
 *
 * The script is plain browser JavaScript (ES2020). It is written without backticks or `${` so that
 * this template literal holds it verbatim.
 */

export const ECHO_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rfc6455 echo test</title>
<link rel="stylesheet" href="/echo.css">
<script src="/echo.js" defer></script>
</head>
<body>
<main>
<h1>WebSocket echo test</h1>
<p id="state" role="status">loading the page's script&hellip;</p>
<noscript><p class="error">This page needs JavaScript.</p></noscript>
<form id="send-form" class="row">
  <label for="message">Message</label>
  <input id="message" type="text" value="Hello, world!" autocomplete="off">
  <button id="send-text" type="submit" disabled>Send text</button>
  <button id="send-binary" type="button" disabled>Send as binary</button>
</form>
<div class="row">
  <label for="close-code">Close code</label>
  <input id="close-code" type="number" value="1000">
  <label for="close-reason">Reason</label>
  <input id="close-reason" type="text" value="done" autocomplete="off">
  <button id="close" type="button" disabled>Close</button>
  <button id="connect" type="button" disabled>Reconnect</button>
</div>
<h2>Log</h2>
<ol id="log" aria-live="polite"></ol>
<p class="note">Served by the rfc6455 echo server (<code>npm start</code>): text comes back as text,
binary as binary. Binary messages are logged as their length and first 16 bytes in hex. The page
connects to <code>/?transport</code>, for which the server says first what carries the WebSocket:
HTTP/1.1, or a stream of the page's own HTTP/2 connection (RFC 8441).</p>
</main>
</body>
</html>
`;

export const ECHO_JS = `'use strict';

// The server that served this page is the echo server: connect to the page's own origin. The
// query asks it to say first what carries the WebSocket (HTTP/1.1, or HTTP/2 as RFC 8441).
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/?transport';
const SHOWN_CHARS = 200; // longer text is cut in the log
const SHOWN_BYTES = 16; // binary is logged as its length and this many bytes of hex
const STATES = ['connecting', 'open', 'closing', 'closed'];
const TRANSPORT_PREFIX = 'transport: '; // the echo server's first message, for /?transport

const element = (id) => document.getElementById(id);
const log = element('log');
const state = element('state');
const message = element('message');
const closeCode = element('close-code');
const closeReason = element('close-reason');
const sendText = element('send-text');
const sendBinary = element('send-binary');
const closeButton = element('close');
const connectButton = element('connect');
const encoder = new TextEncoder();
let ws = null;
let transport = ''; // 'h2' or 'http/1.1', once the server has said

function write(kind, text) {
  const item = document.createElement('li');
  item.className = kind;
  item.textContent = text; // never innerHTML: messages are data, not markup
  log.append(item);
  item.scrollIntoView({ block: 'nearest' });
}

function describe(data) {
  if (typeof data === 'string') {
    let shown = data;
    if (data.length > SHOWN_CHARS) {
      let end = SHOWN_CHARS;
      const last = data.charCodeAt(end - 1);
      if (last >= 0xd800 && last <= 0xdbff) end--; // do not cut a surrogate pair in two
      shown = data.slice(0, end) + ' \\u2026';
    }
    return 'text (' + encoder.encode(data).length + ' bytes): ' + shown;
  }
  const bytes = new Uint8Array(data);
  const hex = Array.from(bytes.subarray(0, SHOWN_BYTES), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return 'binary (' + bytes.length + ' bytes): ' + hex + (bytes.length > SHOWN_BYTES ? ' \\u2026' : '');
}

function render() {
  const readyState = ws === null ? WebSocket.CLOSED : ws.readyState;
  const open = readyState === WebSocket.OPEN;
  sendText.disabled = !open;
  sendBinary.disabled = !open;
  closeButton.disabled = !open;
  connectButton.disabled = readyState !== WebSocket.CLOSED;
  state.dataset.state = STATES[readyState];
  state.textContent = STATES[readyState] + ': ' + url + (transport === '' ? '' : ' over ' + transport);
}

function connect() {
  write('event', 'connecting to ' + url);
  transport = '';
  let socket;
  let first = true;
  try {
    socket = new WebSocket(url);
  } catch (error) {
    write('error', 'cannot connect: ' + error.name + ': ' + error.message);
    render();
    return;
  }
  socket.binaryType = 'arraybuffer';
  ws = socket;
  socket.onopen = () => {
    write('event', 'open: extensions "' + socket.extensions + '", protocol "' + socket.protocol + '"');
    render();
  };
  socket.onmessage = (event) => {
    const said = first && typeof event.data === 'string' && event.data.startsWith(TRANSPORT_PREFIX);
    first = false;
    if (said) {
      transport = event.data.slice(TRANSPORT_PREFIX.length);
      write('event', 'transport: ' + transport + ' (the server says)');
      render();
    } else {
      write('received', 'received ' + describe(event.data));
    }
  };
  // The WebSocket API gives an error event no detail, by design (WHATWG WebSockets).
  socket.onerror = () => write('error', 'error (the browser gives no detail; see its console)');
  socket.onclose = (event) => {
    write('event', 'close: code ' + event.code + ', reason "' + event.reason + '", wasClean ' + event.wasClean);
    if (ws === socket) ws = null;
    render();
  };
  render();
}

function send(data) {
  ws.send(data);
  write('sent', 'sent ' + describe(data));
}

element('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (ws !== null && ws.readyState === WebSocket.OPEN) send(message.value);
});

sendBinary.addEventListener('click', () => {
  const bytes = encoder.encode(message.value);
  send(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
});

closeButton.addEventListener('click', () => {
  const reason = closeReason.value;
  try {
    if (closeCode.value === '') {
      ws.close();
      write('sent', 'close requested without a code');
    } else {
      // The browser throws InvalidAccessError for a code other than 1000 or 3000-4999 and
      // SyntaxError for a reason over 123 bytes: shown, not swallowed.
      const code = Number(closeCode.value);
      ws.close(code, reason);
      write('sent', 'close requested: code ' + code + ', reason "' + reason + '"');
    }
  } catch (error) {
    write('error', 'close refused by the browser: ' + error.name + ': ' + error.message);
  }
  render();
});

connectButton.addEventListener('click', connect);

connect();
`;

export const ECHO_CSS = `:root {
  color-scheme: light;
  font-family: system-ui, sans-serif;
  line-height: 1.4;
  color: #1d232a;
  background: #f4f6f8;
}
main {
  max-width: 52rem;
  margin: 1.5rem auto;
  padding: 1rem 1.5rem;
  background: #fff;
  border: 1px solid #d5dbe1;
  border-radius: 8px;
}
h1 { font-size: 1.4rem; margin: 0 0 0.5rem; }
h2 { font-size: 1.05rem; margin: 1rem 0 0.25rem; }
.row {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 0.5rem;
  margin: 0.5rem 0;
}
input { font: inherit; padding: 0.25rem 0.4rem; }
#message { flex: 1 1 14rem; }
#close-code { width: 5.5rem; }
button { font: inherit; padding: 0.25rem 0.8rem; cursor: pointer; }
button:disabled { cursor: default; }
#state { font-family: ui-monospace, monospace; margin: 0.25rem 0 0.75rem; }
#state[data-state="open"] { color: #17692f; }
#state[data-state="closed"] { color: #9a1b1b; }
#log {
  font-family: ui-monospace, monospace;
  font-size: 0.85rem;
  max-height: 24rem;
  overflow-y: auto;
  margin: 0;
  padding: 0.5rem 0.5rem 0.5rem 2.5rem;
  background: #fbfcfd;
  border: 1px solid #e1e6eb;
  border-radius: 4px;
  overflow-wrap: anywhere;
}
#log .sent { color: #0b4f8a; }
#log .received { color: #17692f; }
#log .event { color: #4a5560; }
#log .error, .error { color: #9a1b1b; }
.note { font-size: 0.85rem; color: #4a5560; }
`;
