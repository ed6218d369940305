/**
 * The client under test in `npm run autobahn:client`: our `connect()` runs every case of Autobahn's
 * fuzzing server, echoing each message, with permessage-deflate offered (sections 12 and 13 need
 * it). The URL protocol, deadlines and summary are in lib/driver.ts; run-client.ts starts this.
 */

import { ConnectionClosedError, connect, type DeflateOptions } from '../src/index.js';
import { drive, type VisitFn } from './lib/driver.js';

// Section 9 sends messages of up to 16 MiB (9.1.6, 9.2.6); the limit must not be what a case tests.
const MAX_PAYLOAD = 64 * 1024 * 1024;

// A send the server's close overtook is not a failure of the case: the echo simply ends there.
function ignoreClosed(error: unknown): void {
  if (!(error instanceof ConnectionClosedError)) throw error;
}

/**
 * Our offer for a case. Every message is compressed (threshold 0), as the echo server of the
 * server run does, so that the run covers compression at every message size (kosoku's sections 12
 * and 13 also break on an uncompressed text echo: its case code hashes the text without encoding it).
 * Cases 13.2, 13.5 and 13.6 are defined by a server that accepts with client_no_context_takeover
 * (RFC 7692 7.1.1.2 lets a server ask for it whatever the offer); Autobahn's own fuzzing server
 * asks in answer to any offer, kosoku's only to an offer that carries the parameter as a hint. So
 * in those cases our client offers it: `perMessageDeflate: { clientNoContextTakeover: true }`, a
 * setting users have, not a special mode.
 */
function deflateFor(caseId: string | undefined): DeflateOptions {
  const hinted = caseId !== undefined && /^13\.[256]\./.test(caseId);
  return hinted ? { threshold: 0, clientNoContextTakeover: true } : { threshold: 0 };
}

const visit: VisitFn = async (url, echo, received, signal, caseId) => {
  const ws = await connect(url, { perMessageDeflate: deflateFor(caseId), maxPayload: MAX_PAYLOAD });
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
