/**
 * The client under test in `npm run autobahn:client`: our `connect()` runs every case of Autobahn's
 * fuzzing server, echoing each message, with permessage-deflate offered (sections 12 and 13 need
 * it). The URL protocol, deadlines and summary are in lib/driver.ts; run-client.ts starts this.
 */

import { ConnectionClosedError, connect } from '../src/index.js';
import { drive, type VisitFn } from './lib/driver.js';

// Section 9 sends messages of up to 16 MiB (9.1.6, 9.2.6); the limit must not be what a case tests.
const MAX_PAYLOAD = 64 * 1024 * 1024;

// A send the server's close overtook is not a failure of the case: the echo simply ends there.
function ignoreClosed(error: unknown): void {
  if (!(error instanceof ConnectionClosedError)) throw error;
}

const visit: VisitFn = async (url, echo, received, signal) => {
  const ws = await connect(url, { perMessageDeflate: true, maxPayload: MAX_PAYLOAD });
  // A hung case: start the closing handshake, which closeTimeout bounds.
  const abort = (): void => void ws.close(1001, 'case timed out').catch(() => {});
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  const texts: string[] = [];
  for await (const message of ws) {
    received();
    if (!echo) {
      if (message.type === 'text') texts.push(message.data);
      continue;
    }
    // Awaited, so that a peer sending faster than we echo gets TCP backpressure, not a buffer.
    await ws.send(message.data).catch(ignoreClosed);
  }
  const { code } = await ws.closed;
  return { texts, code };
};

await drive('rfc6455', visit);
