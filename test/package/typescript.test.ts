/**
 * The packed package's type declarations as TypeScript users see them (issue 9): `module: nodenext`
 * in an ES module package ("type": "module") and in a CommonJS one ("type": "commonjs", where
 * `import ... from 'rfc6455'` compiles to require()), type-checked by the repository's own tsc.
 * Each kind compiles cleanly and runs, and a deliberate type error in it is reported, so the
 * declarations were really found (a missing one would be `any`, or TS2307/TS7016).
 */

import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST } from '../node/helpers.js';
import { ROOT, installPacked, run, type PackedProject } from './packed.js';

const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const KINDS = ['module', 'commonjs'] as const;

let project: PackedProject;
beforeAll(async () => {
  project = await installPacked();
  for (const kind of KINDS) {
    project.write(`${kind}/package.json`, JSON.stringify({ type: kind }));
    project.write(`${kind}/main.ts`, kind === 'module' ? ESM_MAIN : CJS_MAIN);
    project.write(`${kind}/bad.ts`, BAD);
  }
  // One program per tsconfig covers both kinds: each file's module kind comes from its nearest
  // package.json "type", and the output is written next to it, where the same rule applies.
  const mains = KINDS.map((kind) => `${kind}/main.ts`);
  project.write('tsconfig.json', tsconfig(mains, {}));
  project.write('tsconfig.bad.json', tsconfig(KINDS.map((kind) => `${kind}/bad.ts`), { noEmit: true }));
  project.write('tsconfig.strict.json', tsconfig(mains, { noEmit: true, skipLibCheck: false }));
}, 120_000);
afterAll(() => project?.remove());

function tsconfig(files: string[], options: Record<string, unknown>): string {
  return JSON.stringify({
    compilerOptions: {
      module: 'nodenext',
      target: 'ES2022',
      // No DOM: the repository's own lib, and a third of the time of each run.
      lib: ['ES2022'],
      strict: true,
      // What `tsc --init` writes; the strict test below checks the declarations themselves.
      skipLibCheck: true,
      // The repository's @types/node: the declarations import node:stream and node:http.
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      ...options,
    },
    files,
  });
}

const USE = `
  const server = new WebSocketServer({
    handler: async (ws: Ws) => {
      for await (const message of ws) {
        const echoed: Message = message;
        await ws.send(echoed.type === 'text' ? echoed.data.toUpperCase() : echoed.data);
      }
    },
  });
  const address = await server.listen(0, ${JSON.stringify(HOST)});
  const frame: Uint8Array = prepareFrame(true, new TextEncoder().encode('Hello')).frame;
  const key: string = generateHandshakeKey(new Uint8Array(16));
  const result: ShutdownResult = await server.close();
  const hex = Buffer.from(frame).toString('hex');
  console.log(JSON.stringify({ listened: address.port > 0, frame: hex, key, goingAway: CloseCode.GOING_AWAY, result }));
`;
const IMPORTS = `import { CloseCode, WebSocketServer, prepareFrame, type Message, type ShutdownResult, type Ws } from 'rfc6455';
import { generateHandshakeKey } from 'rfc6455/protocol';
`;
const ESM_MAIN = `${IMPORTS}${USE}`;
const CJS_MAIN = `${IMPORTS}
async function main(): Promise<void> {${USE}}
void main();
`;
// Lines 4 and 5 hold one type error each.
const BAD = `import { WebSocketServer } from 'rfc6455';
import { generateHandshakeKey } from 'rfc6455/protocol';

export const clients: number = new WebSocketServer().clients;
export const key: number = generateHandshakeKey();
`;

/** tsc's errors (`--pretty false`) as `file(line,col): TSnnnn message`. */
function errors(output: string): string[] {
  return [...output.matchAll(/^(\S.*?)\((\d+),(\d+)\): error (TS\d+): (.*)$/gm)].map(
    (m) => `${m[1]}(${m[2]},${m[3]}): ${m[4]} ${m[5]}`,
  );
}

// The three tsc runs are independent programs over the same files; they run side by side. Each
// compiles the package's declarations from scratch: about 10 s alone, past the default 30 s when
// the suite's other files load every core (seen in CI-like runs), so they get more time.
const TSC_TIMEOUT = 120_000;

describe.concurrent('TypeScript (module: nodenext) in a "type": "module" and a "type": "commonjs" package', () => {
  it('type-checks with exit code 0, compiles each to its module kind, and the output runs', async () => {
    const tsc = await run(TSC, ['-p', 'tsconfig.json', '--pretty', 'false'], project.dir);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
    for (const kind of KINDS) {
      const emitted = readFileSync(join(project.dir, kind, 'main.js'), 'utf8');
      if (kind === 'commonjs') expect(emitted).toContain('require("rfc6455")');
      else expect(emitted).toContain("from 'rfc6455'");
      const node = await run(process.execPath, [join(kind, 'main.js')], project.dir);
      expect(node, kind).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(node.stdout), kind).toEqual({
        listened: true,
        frame: '810548656c6c6f', // RFC 6455 5.7: unmasked "Hello"
        key: 'AAAAAAAAAAAAAAAAAAAAAA==', // RFC 6455 4.1: 16 bytes in base64
        goingAway: 1001,
        result: { closed: 0, terminated: 0 },
      });
    }
  }, TSC_TIMEOUT);

  it('reports a deliberate type error against each entry point, in both kinds', async () => {
    const tsc = await run(TSC, ['-p', 'tsconfig.bad.json', '--pretty', 'false'], project.dir);
    expect(errors(tsc.stdout).sort()).toEqual(
      KINDS.flatMap((kind) => [
        `${kind}/bad.ts(4,14): TS2322 Type 'ReadonlySet<Ws>' is not assignable to type 'number'.`,
        `${kind}/bad.ts(5,14): TS2322 Type 'string' is not assignable to type 'number'.`,
      ]).sort(),
    );
    expect(tsc.code).toBe(2);
  }, TSC_TIMEOUT);

  // A user with skipLibCheck: false type-checks our .d.ts too: it must hold no error. (Classes
  // must not `implements` an interface whose members are stripped as internal.)
  const KNOWN_BROKEN: string[] = [];

  it('the published declarations type-check with skipLibCheck: false', async () => {
    const tsc = await run(TSC, ['-p', 'tsconfig.strict.json', '--pretty', 'false'], project.dir);
    expect(errors(tsc.stdout).map((error) => error.replace(/\(\d+,\d+\)/, ''))).toEqual(KNOWN_BROKEN);
    expect(tsc.code).toBe(KNOWN_BROKEN.length === 0 ? 0 : 2);
  }, TSC_TIMEOUT);
});
