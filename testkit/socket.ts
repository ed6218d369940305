/**
 * The client's opening handshake on a connected socket, for scripts and fixtures that then read or
 * stall the raw stream themselves: the request written, the 101 read and checked (RFC 6455 4.1).
 */

import type { Socket } from 'node:net';
import { acceptFor, readUpgradeResponse, upgradeRequest, type UpgradeRequestOptions, type UpgradeResponse } from './handshake.js';

/**
 * Writes the request and resolves with the 101 (its `rest` holds any frames that came with it);
 * rejects if the answer is not a right 101 or the socket closes first. The socket is left paused
 * once the head is in, so that no byte is lost before the caller attaches its own 'data' listener
 * and resumes it (or leaves it paused, a peer that never reads).
 */
export function clientHandshake(socket: Socket, request: UpgradeRequestOptions): Promise<UpgradeResponse> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const done = (): void => {
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onClose = (): void => {
      done();
      reject(new Error('the connection closed during the handshake'));
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      let response;
      try {
        response = readUpgradeResponse(received, acceptFor(request.key));
      } catch (error) {
        done();
        return reject(error as Error);
      }
      if (response === null) return;
      done();
      resolve(response);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(upgradeRequest(request), 'latin1');
  });
}
