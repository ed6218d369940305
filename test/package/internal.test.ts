/**
 * What is internal stays out of the published types (issue 9): every declaration in src/ whose
 * leading comment says `@internal` is absent from the dist/ .d.ts that `npm run build` emitted
 * (tsconfig.build.json `stripInternal`; `npm test` builds first as `pretest`). Generic: it scans
 * src/ for the tag, so it follows the code as it changes.
 */

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './packed.js';

const TAG = '@internal';

interface Declaration {
  /** `Container.member`, or a top-level name. */
  readonly path: string;
  readonly internal: boolean;
  /** Exported from its module (members: their container is). */
  readonly exported: boolean;
}

interface Scan {
  readonly declarations: Declaration[];
  /** How many `@internal` tags the declarations' leading comments hold. */
  readonly tags: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

function memberName(node: ts.Node, file: ts.SourceFile): string | undefined {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (
    ts.isMethodDeclaration(node) ||
    ts.isPropertyDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isMethodSignature(node) ||
    ts.isPropertySignature(node) ||
    ts.isEnumMember(node)
  ) {
    return node.name.getText(file);
  }
  return undefined;
}

/**
 * Every declaration of a module and whether it is tagged. Like tsc's stripInternal, a tag counts
 * anywhere in a comment that leads the declaration.
 */
function scan(fileName: string): Scan {
  const text = readFileSync(fileName, 'utf8');
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const declarations: Declaration[] = [];
  const tagged = new Map<number, number>(); // comment position -> tags in it, so a comment counts once
  const isTagged = (node: ts.Node): boolean => {
    let found = false;
    for (const range of ts.getLeadingCommentRanges(text, node.pos) ?? []) {
      const tags = count(text.slice(range.pos, range.end), TAG);
      if (tags === 0) continue;
      found = true;
      tagged.set(range.pos, tags);
    }
    return found;
  };
  const exportedNames = new Set<string>();
  for (const statement of file.statements) {
    if (ts.isExportDeclaration(statement) && statement.moduleSpecifier === undefined && statement.exportClause !== undefined) {
      if (ts.isNamedExports(statement.exportClause)) {
        for (const element of statement.exportClause.elements) exportedNames.add((element.propertyName ?? element.name).text);
      }
    }
  }
  for (const statement of file.statements) {
    const modifiers = ts.canHaveModifiers(statement) ? ts.getModifiers(statement) : undefined;
    const hasExport = modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword) === true;
    const internal = isTagged(statement);
    const names: string[] = [];
    let members: readonly ts.Node[] = [];
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) names.push(declaration.name.getText(file));
    } else if (
      ts.isClassDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isEnumDeclaration(statement) ||
      ts.isFunctionDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isModuleDeclaration(statement)
    ) {
      names.push(statement.name?.getText(file) ?? 'default');
      if (ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) || ts.isEnumDeclaration(statement)) {
        members = statement.members;
      }
    }
    for (const name of names) {
      const exported = hasExport || exportedNames.has(name);
      declarations.push({ path: name, internal, exported });
      for (const member of members) {
        const memberPath = memberName(member, file);
        // A class's #private fields are one `#private;` in its .d.ts.
        if (memberPath === undefined || memberPath.startsWith('#')) continue;
        declarations.push({ path: `${name}.${memberPath}`, internal: isTagged(member) || internal, exported });
      }
    }
  }
  let tags = 0;
  for (const inComment of tagged.values()) tags += inComment;
  return { declarations, tags };
}

const SRC = join(ROOT, 'src');
const files = sourceFiles(SRC).map((fileName) => ({
  fileName,
  name: relative(ROOT, fileName),
  scan: scan(fileName),
  text: readFileSync(fileName, 'utf8'),
}));
const withTags = files.filter((file) => file.scan.declarations.some((declaration) => declaration.internal));

describe('@internal declarations in src/', () => {
  it('are found by this scan: every tag in src/ leads a declaration it understands', () => {
    expect(files.map((file) => file.name)).toContain(join('src', 'index.ts'));
    // Ws and WebSocketServer carry tags today; without any, this test would check nothing.
    expect(withTags.length).toBeGreaterThan(0);
    const missed = files.filter((file) => count(file.text, TAG) !== file.scan.tags).map((file) => file.name);
    expect(missed, `a ${TAG} tag in these files is not in a comment leading a declaration`).toEqual([]);
  });
});

describe.each(withTags.map((file) => [file.name, file] as const))('%s', (name, file) => {
  const dts = join(ROOT, 'dist', name.replace(/^src[\\/]/, '').replace(/\.ts$/, '.d.ts'));

  it('has its @internal declarations stripped from the .d.ts, and everything else kept', () => {
    expect(existsSync(dts), `${relative(ROOT, dts)} is missing: run \`npm run build\``).toBe(true);
    const published = new Set(scan(dts).declarations.map((declaration) => declaration.path));
    const leaked = file.scan.declarations.filter((d) => d.internal && published.has(d.path)).map((d) => d.path);
    expect(leaked, `${TAG} declarations of ${name} in ${relative(ROOT, dts)}`).toEqual([]);
    // The other side, so an unreadable or stale .d.ts cannot pass: what is exported and not
    // internal is published (private members included, as `private name;`).
    const missing = file.scan.declarations
      .filter((d) => d.exported && !d.internal && !published.has(d.path))
      .map((d) => d.path);
    expect(missing, `exported declarations of ${name} missing from ${relative(ROOT, dts)} (stale dist?)`).toEqual([]);
  });
});
