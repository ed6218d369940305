// Runs inside Chromium (page.evaluate, as one function expression): the browser's own WebSocket
// against the server that served the page. Sends 1 MiB messages (random binary, random text of
// 1- to 4-byte characters, compressible zeros) one at a time, then all at once, and compares the
// SHA-256 of each echo with the SHA-256 of what was sent. Plain browser JavaScript, no imports.
async (options) => {
  const size = options.size;
  const encoder = new TextEncoder();
  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
  const sha256 = async (data) =>
    hex(await crypto.subtle.digest('SHA-256', typeof data === 'string' ? encoder.encode(data) : data));
  const byteLength = (data) => (typeof data === 'string' ? encoder.encode(data).length : data.byteLength);

  const randomBytes = (n) => {
    const bytes = new Uint8Array(n);
    // getRandomValues fills at most 65536 bytes per call.
    for (let at = 0; at < n; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(n, at + 65536)));
    return bytes.buffer;
  };
  // Exactly n bytes of UTF-8: random code points from each encoded length (no surrogates).
  const randomText = (n) => {
    const ranges = [
      [0x20, 0x7e, 1],
      [0xa0, 0x7ff, 2],
      [0x800, 0xd7ff, 3],
      [0x10000, 0x10ffff, 4],
    ];
    const parts = [];
    let bytes = 0;
    while (bytes < n) {
      const [low, high, length] = ranges[Math.floor(Math.random() * ranges.length)];
      if (bytes + length > n) {
        parts.push('x'.repeat(n - bytes));
        break;
      }
      parts.push(String.fromCodePoint(low + Math.floor(Math.random() * (high - low + 1))));
      bytes += length;
    }
    return parts.join('');
  };

  const ws = new WebSocket('ws://' + location.host + '/');
  ws.binaryType = 'arraybuffer';
  const incoming = [];
  let wake = () => undefined;
  let closeEvent = null;
  ws.onmessage = (event) => {
    incoming.push(event.data);
    wake();
  };
  const closed = new Promise((resolve) => {
    ws.onclose = (event) => {
      closeEvent = { code: event.code, reason: event.reason, wasClean: event.wasClean };
      resolve(closeEvent);
      wake();
    };
  });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('WebSocket error before open'));
  });
  const nextEcho = async () => {
    while (incoming.length === 0) {
      if (closeEvent !== null) throw new Error('closed before the echo: ' + JSON.stringify(closeEvent));
      await new Promise((resolve) => (wake = resolve));
    }
    return incoming.shift();
  };
  const describe = async (name, sent, echo) => ({
    name,
    sent: { type: typeof sent === 'string' ? 'text' : 'binary', bytes: byteLength(sent), sha256: await sha256(sent) },
    echo: { type: typeof echo === 'string' ? 'text' : 'binary', bytes: byteLength(echo), sha256: await sha256(echo) },
  });

  const messages = () => [
    ['random binary', randomBytes(size)],
    ['random text', randomText(size)],
    ['zeros', new ArrayBuffer(size)],
  ];
  const results = [];
  for (const [name, data] of messages()) {
    ws.send(data);
    results.push(await describe(name + ', one at a time', data, await nextEcho()));
  }
  const batch = messages();
  for (const [, data] of batch) ws.send(data);
  for (const [name, data] of batch) results.push(await describe(name + ', all at once', data, await nextEcho()));

  ws.close(1000, 'large echo done');
  return { extensions: ws.extensions, results, close: await closed };
}
