/**
 * The `ws` servers run with bufferutil, ws's native masking addon, or not at all: ws loads it by
 * itself when it is installed, and this checks that it did.
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Whether ws's mask/unmask are bufferutil's (ws/lib/buffer-util.js replaces them when it loads it). */
function wsUsesBufferutil(): boolean {
  const bufferUtil = require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as {
    mask: (...args: unknown[]) => void;
  };
  return /bufferUtil\.mask/.test(bufferUtil.mask.toString());
}

/** Throws unless ws uses bufferutil's native binary; returns the versions for the report. */
export function checkBufferutil(): { readonly ws: string; readonly bufferutil: string } {
  // bufferutil's index.js loads the prebuilt binary through node-gyp-build, falling back to
  // fallback.js (plain JS) when it cannot: a native function prints as "[native code]".
  const bufferutil = require('bufferutil') as { mask: (...args: unknown[]) => void };
  const native = /\[native code\]/.test(bufferutil.mask.toString());
  if (!native || !wsUsesBufferutil()) {
    throw new Error(`ws is not using bufferutil's native binary (native: ${native})`);
  }
  return {
    ws: (require('ws/package.json') as { version: string }).version,
    bufferutil: (require('bufferutil/package.json') as { version: string }).version,
  };
}
