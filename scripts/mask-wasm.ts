/**
 * Assembles the WebAssembly SIMD unmasking kernel of src/protocol/mask-simd.ts from its text
 * (WAT, in the flat instruction form), so that the bytes embedded there can be checked and
 * rebuilt: no toolchain, nothing downloaded, no binary in the repository that no one can read.
 *
 *   npx tsx scripts/mask-wasm.ts          # prints the bytes as mask-simd.ts embeds them
 *
 * test/protocol/mask-simd.test.ts checks that the embedded bytes are exactly these. The assembler
 * knows only the instructions the kernel uses; anything else is an error.
 */

/**
 * The kernel. `unmask(ptr, len, key)` XORs memory[ptr .. ptr + len), rounded up to whole blocks of
 * 64 bytes, with `key` repeated (the 4 mask bytes in memory order, as a little-endian i32): four
 * 128-bit XORs per iteration. The caller keeps ptr + len + 63 inside the memory (2 pages: a window
 * of 64 KiB at an offset below 16, see mask-simd.ts); the bytes past len are scratch.
 */
export const UNMASK_WAT = `
(module
  (memory (export "memory") 2)
  (func (export "unmask") (param $ptr i32) (param $len i32) (param $key i32)
    (local $end i32) (local $k v128)
    local.get $key
    i32x4.splat
    local.set $k
    local.get $ptr
    local.get $len
    i32.add
    local.set $end
    block $done
      loop $next
        local.get $ptr
        local.get $end
        i32.ge_u
        br_if $done
        local.get $ptr
        local.get $ptr
        v128.load offset=0 align=1
        local.get $k
        v128.xor
        v128.store offset=0 align=1
        local.get $ptr
        local.get $ptr
        v128.load offset=16 align=1
        local.get $k
        v128.xor
        v128.store offset=16 align=1
        local.get $ptr
        local.get $ptr
        v128.load offset=32 align=1
        local.get $k
        v128.xor
        v128.store offset=32 align=1
        local.get $ptr
        local.get $ptr
        v128.load offset=48 align=1
        local.get $k
        v128.xor
        v128.store offset=48 align=1
        local.get $ptr
        i32.const 64
        i32.add
        local.set $ptr
        br $next
      end
    end
  )
)
`;

const VALUE_TYPES: Record<string, number> = { i32: 0x7f, v128: 0x7b };

function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function signedLeb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function name(text: string): number[] {
  return [...unsignedLeb(text.length), ...[...text].map((c) => c.charCodeAt(0))];
}

function section(id: number, content: number[]): number[] {
  return [id, ...unsignedLeb(content.length), ...content];
}

/** The memory argument of a load or store: `offset=N align=B` (B in bytes, encoded as log2). */
function memarg(args: string[]): number[] {
  let offset = 0;
  let align = 1;
  for (const arg of args) {
    const [key, value] = arg.split('=');
    if (key === 'offset') offset = Number(value);
    else if (key === 'align') align = Number(value);
    else throw new Error(`unknown memarg ${arg}`);
  }
  return [...unsignedLeb(Math.log2(align)), ...unsignedLeb(offset)];
}

/**
 * Assembles UNMASK_WAT (or a module of the same shape: one memory, one exported function of i32
 * parameters and no result, its body in the flat form).
 */
export function assemble(wat: string = UNMASK_WAT): Uint8Array {
  const text = wat.replace(/;;.*$/gm, '');
  const memory = /\(memory \(export "(\w+)"\) (\d+)\)/.exec(text);
  const func = /\(func \(export "(\w+)"\)((?: \(param \$\w+ \w+\))*)\s*((?:\(local \$\w+ \w+\)\s*)*)/.exec(text);
  if (memory === null || func === null) throw new Error('expected one memory and one exported function');
  const locals = new Map<string, number>();
  const params = [...func[2]!.matchAll(/\(param \$(\w+) (\w+)\)/g)];
  const declared = [...func[3]!.matchAll(/\(local \$(\w+) (\w+)\)/g)];
  for (const [, id] of [...params, ...declared]) locals.set(id!, locals.size);
  const body = text.slice(func.index + func[0].length, text.lastIndexOf(')', text.lastIndexOf(')') - 1));

  const labels: string[] = [];
  const local = (arg: string | undefined): number[] => {
    const index = locals.get((arg ?? '').replace(/^\$/, ''));
    if (index === undefined) throw new Error(`unknown local ${arg}`);
    return unsignedLeb(index);
  };
  const depth = (arg: string | undefined): number[] => {
    const at = labels.lastIndexOf((arg ?? '').replace(/^\$/, ''));
    if (at < 0) throw new Error(`unknown label ${arg}`);
    return unsignedLeb(labels.length - 1 - at);
  };
  const code: number[] = [];
  for (const line of body.split('\n')) {
    const [op, ...args] = line.trim().split(/\s+/);
    if (op === undefined || op === '' || op === ')') continue;
    switch (op) {
      case 'local.get': code.push(0x20, ...local(args[0])); break;
      case 'local.set': code.push(0x21, ...local(args[0])); break;
      case 'i32.const': code.push(0x41, ...signedLeb(Number(args[0]))); break;
      case 'i32.add': code.push(0x6a); break;
      case 'i32.ge_u': code.push(0x4f); break;
      case 'block': labels.push(args[0]!.slice(1)); code.push(0x02, 0x40); break;
      case 'loop': labels.push(args[0]!.slice(1)); code.push(0x03, 0x40); break;
      case 'end': labels.pop(); code.push(0x0b); break;
      case 'br': code.push(0x0c, ...depth(args[0])); break;
      case 'br_if': code.push(0x0d, ...depth(args[0])); break;
      case 'i32x4.splat': code.push(0xfd, ...unsignedLeb(0x11)); break;
      case 'v128.load': code.push(0xfd, ...unsignedLeb(0x00), ...memarg(args)); break;
      case 'v128.store': code.push(0xfd, ...unsignedLeb(0x0b), ...memarg(args)); break;
      case 'v128.xor': code.push(0xfd, ...unsignedLeb(0x51)); break;
      default: throw new Error(`the assembler does not know ${op}`);
    }
  }
  if (labels.length !== 0) throw new Error('unbalanced block/loop');
  code.push(0x0b); // the function's end

  // Locals are declared in runs of one type: [count, type] each.
  const runs: number[][] = [];
  for (const [, , type] of declared) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === VALUE_TYPES[type!]) last[0]!++;
    else runs.push([1, VALUE_TYPES[type!]!]);
  }
  const localDecls = [...unsignedLeb(runs.length), ...runs.flatMap(([count, type]) => [...unsignedLeb(count!), type!])];
  const functionBody = [...localDecls, ...code];

  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, [0x01, 0x60, ...unsignedLeb(params.length), ...params.map(([, , type]) => VALUE_TYPES[type!]!), 0x00]),
    ...section(3, [0x01, 0x00]), // one function, of type 0
    ...section(5, [0x01, 0x00, ...unsignedLeb(Number(memory[2]))]), // one memory, min pages, no max
    ...section(7, [0x02, ...name(memory[1]!), 0x02, 0x00, ...name(func[1]!), 0x00, 0x00]),
    ...section(10, [0x01, ...unsignedLeb(functionBody.length), ...functionBody]),
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bytes = [...assemble()].map((b) => `0x${b.toString(16).padStart(2, '0')}`);
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) lines.push(`  ${bytes.slice(i, i + 16).join(', ')},`);
  console.log(`${bytes.length} bytes:\n[\n${lines.join('\n')}\n]`);
}
