/**
 * examples/duplex.ts (issue 14): the Sans-I/O core from `rfc6455/protocol` (the built package, as
 * users get it) on a transport that is not a net.Socket, a pair of node:stream Duplex objects: the
 * opening handshake with the core's server and client functions (a subprotocol and
 * permessage-deflate agreed), a text and a binary message, and the closing handshake. Run as users
 * run it; every line it prints is asserted, in order.
 */

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { deadline } from '../node/helpers.js';

const root = new URL('../../', import.meta.url);

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', 'examples/duplex.ts'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return deadline(exited, 20_000, 'the example to exit').finally(() => child.kill('SIGKILL'));
}

describe('examples/duplex.ts', () => {
  it('runs both roles of the core over a Duplex pair: handshake, a text and a binary message, a clean close; exits 0', async () => {
    const { code, stdout, stderr } = await run();
    expect(stderr).toBe('');
    expect(stdout.split('\n')).toEqual([
      // RFC 6455 4.2.2 and RFC 7692 7.1: the offer `permessage-deflate; client_max_window_bits` is
      // accepted with no parameter; both sides keep context takeover and 15-bit windows.
      'server accepted: subprotocol chat, extensions permessage-deflate',
      'client checked the 101: subprotocol chat, deflate {"ourNoContextTakeover":false,"theirNoContextTakeover":false,"ourMaxWindowBits":15,"theirMaxWindowBits":15}',
      'client sends text: Hello from the client',
      'server received text: Hello from the client',
      'server sends binary: deadbeef',
      'client received binary: deadbeef',
      'client closes: 1000 done',
      "server got the peer's close frame and answers it",
      // RFC 6455 5.5.1: the server echoes the code (not the reason); close frames went both ways.
      'server closed: {"code":1000,"reason":"done","wasClean":true}',
      'client closed: {"code":1000,"reason":"","wasClean":true}',
      '',
    ]);
    expect(code).toBe(0);
  });
});
