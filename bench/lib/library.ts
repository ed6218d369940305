/**
 * The rfc6455 build the bench's own servers and clients load: this checkout's dist/ (what
 * `npm run bench` builds first, the package as users get it), or the dist/ directory named by
 * `BENCH_LIB`, another commit's build. Issue 14 asks that no case be slower than before; figures
 * from another day's run compare only as ratios to their peer (another host is another speed), so
 * "before" is measured on the same machine by running the old build under the same harness:
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s "$PWD/node_modules" . \
 *     && npx tsc -p tsconfig.build.json)
 *   BENCH_LIB=/tmp/before/dist npm run bench -- --cases handshake --servers ours,ws --no-readme
 *
 * The types are this checkout's: a build whose API differs fails at the first call it lacks.
 */

import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Library = typeof import('../../dist/index.js');
type HubLibrary = typeof import('../../dist/hub/index.js');

const chosen = process.env['BENCH_LIB'];

function entry(path: string): string {
  if (chosen === undefined || chosen === '') return new URL(`../../dist/${path}`, import.meta.url).href;
  const dir = isAbsolute(chosen) ? chosen : resolve(chosen);
  return pathToFileURL(resolve(dir, path)).href;
}

/** The build's description for a server's `info`: which dist/ it ran. */
export const LIBRARY_BUILD = chosen === undefined || chosen === '' ? 'dist/' : chosen;

/** `rfc6455` of the chosen build. */
export const library = (await import(entry('index.js'))) as Library;

/** `rfc6455/hub` of the chosen build. */
export async function hubLibrary(): Promise<HubLibrary> {
  return (await import(entry('hub/index.js'))) as HubLibrary;
}
