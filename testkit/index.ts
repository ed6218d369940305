/**
 * testkit: one raw WebSocket implementation for everything outside src/ that speaks the protocol
 * by hand (issue 9): the tests' raw clients and servers, the benchmark's load generator and raw
 * servers, the soak script, the interop tests' wire reader. It is the oracle the library is
 * compared against, so it imports nothing from src/ (test/testkit/independence.test.ts checks it)
 * and it is not published (package.json "files").
 *
 * - frames.ts: building frames, valid or not (any opcode, FIN, RSV, mask, length form).
 * - reader.ts: reading frames from chunks of any size (FrameReader, FrameCollector, readFrames).
 * - handshake.ts: the client's request and 101 check, the server's 101, HTTP heads.
 * - deflate.ts: permessage-deflate messages compressed and inflated as a peer does.
 * - socket.ts: the client's handshake on a connected socket.
 * - relay.ts: a TCP relay (a balancer, a partition), imported by path: it is no WebSocket.
 */

export * from './frames.js';
export * from './reader.js';
export * from './handshake.js';
export * from './deflate.js';
export * from './socket.js';
