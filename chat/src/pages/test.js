// The chat's test client (/ws/test): no framework, no build step. Every piece of user text goes
// into the page as text (textContent), never as HTML. The username is also the userId, so two tabs
// with one name are one user. After an unexpected close it reconnects with `since` set to the id
// of the last message it saw, and the server sends what it missed.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const messages = $('messages');
  const users = $('users');
  const messageInput = $('message');
  const sendButton = $('send');

  let socket = null;
  let identity = null; // { username, room, token }
  let lastId = null; // the id of the last chat or notification seen in the room
  let present = new Map(); // userId -> username
  let retries = 0;
  let heartbeat = null;

  function setStatus(text) {
    status.textContent = text;
  }

  function time(timestamp) {
    return new Date(timestamp).toLocaleTimeString([], { hour12: false });
  }

  /** One line in the conversation; `from` and `text` are set as text. */
  function show(kind, timestamp, from, text) {
    const item = document.createElement('li');
    item.className = kind;
    const when = document.createElement('time');
    when.textContent = time(timestamp);
    item.append(when, ' ');
    if (from) {
      const who = document.createElement('b');
      who.textContent = from;
      item.append(who, ' ');
    }
    const content = document.createElement('span');
    content.textContent = text;
    item.append(content);
    messages.append(item);
    item.scrollIntoView({ block: 'end' });
  }

  function renderUsers() {
    users.replaceChildren(
      ...[...present.values()].sort().map((name) => {
        const item = document.createElement('li');
        item.textContent = name;
        return item;
      }),
    );
  }

  function handle(message) {
    switch (message.type) {
      case 'chat':
      case 'notification':
        if (message.room !== identity.room) return;
        lastId = message.id;
        show(message.type, message.timestamp, message.from, message.content);
        return;
      case 'user_list':
        present = new Map(message.data.users.map((user) => [user.userId, user.username]));
        renderUsers();
        return;
      case 'user_joined':
        present.set(message.data.userId, message.data.username);
        renderUsers();
        show('presence', message.timestamp, '', message.content);
        return;
      case 'user_left':
        present.delete(message.data.userId);
        renderUsers();
        show('presence', message.timestamp, '', message.content);
        return;
      case 'system':
        show('system', message.timestamp, '', message.content);
        return;
      case 'error':
        show('error', message.timestamp, '', `${message.data.code}: ${message.content}`);
        return;
      default:
        return; // heartbeat answers
    }
  }

  function connect() {
    const params = new URLSearchParams({ username: identity.username, userId: identity.username, room: identity.room });
    if (identity.token) params.set('token', identity.token);
    if (lastId) params.set('since', lastId);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const current = new WebSocket(`${scheme}://${location.host}/ws?${params}`);
    socket = current;
    setStatus('connecting');
    current.onopen = () => {
      retries = 0;
      setStatus(`connected as ${identity.username} in ${identity.room}`);
      messageInput.disabled = false;
      sendButton.disabled = false;
      heartbeat = setInterval(() => current.send(JSON.stringify({ type: 'heartbeat', timestamp: Date.now() })), 25000);
    };
    current.onmessage = (event) => handle(JSON.parse(event.data));
    current.onclose = (event) => {
      if (socket !== current) return;
      clearInterval(heartbeat);
      messageInput.disabled = true;
      sendButton.disabled = true;
      // 1000 and 1001 are ours or the server's on purpose; 1008 is a policy: do not retry those at once.
      if (event.code === 1000 || event.code === 1008) {
        setStatus(`closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
        return;
      }
      const delay = Math.min(30000, 1000 * 2 ** retries++);
      setStatus(`disconnected (${event.code}); retrying in ${delay / 1000} s`);
      setTimeout(() => {
        if (socket === current) connect();
      }, delay);
    };
  }

  $('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const username = $('username').value.trim();
    const room = $('room').value.trim() || 'general';
    if (!username) return;
    if (socket) {
      const old = socket;
      socket = null;
      old.close(1000, 'joining again');
    }
    identity = { username, room, token: $('token').value.trim() };
    lastId = null;
    present = new Map();
    renderUsers();
    messages.replaceChildren();
    $('room-title').textContent = `Messages in ${room}`;
    connect();
  });

  $('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const content = messageInput.value;
    if (!content || !socket || socket.readyState !== WebSocket.OPEN) return;
    // A clientId makes a resend after a reconnect harmless: the server keeps the first only.
    const clientId = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
    socket.send(JSON.stringify({ type: 'chat', content, timestamp: Date.now(), clientId }));
    messageInput.value = '';
  });
})();
