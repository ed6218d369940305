/**
 * Reading an Autobahn report (index.json) and grading it: a table per section, a line per failure,
 * a last line "N passed, M failed", exit 1 on any failure. Shared by the server run (run.ts) and
 * the client run (run-client.ts), which differ only in the policy: which grades are good enough.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { die, log } from './log.js';

export interface CaseResult {
  behavior: string;
  behaviorClose: string;
}
export type Results = Record<string, CaseResult>;

// How good a grade is: lower is better. INFORMATIONAL cases have no right answer.
const RANK: Record<string, number> = {
  OK: 0,
  INFORMATIONAL: 0,
  'NON-STRICT': 1,
  UNIMPLEMENTED: 2,
  'WRONG CODE': 3,
  UNCLEAN: 3,
  FAILED: 4,
};
export const rank = (grade: string): number => RANK[grade] ?? 5;

export type Judgement = 'pass' | 'tolerated' | 'fail';

export interface Policy {
  /** Whether one case's grades are good enough, regardless of the baseline. */
  judge(id: string, result: CaseResult): Judgement;
  /** The line printed when some cases were tolerated. */
  toleratedNote(count: number): string;
}

const COMPRESSION_SECTIONS = new Set(['12', '13']);

/**
 * Our server: OK, NON-STRICT or INFORMATIONAL; UNIMPLEMENTED is tolerated in sections 12 and 13
 * (the echo server may run without permessage-deflate).
 */
export const SERVER_POLICY: Policy = {
  judge(id, { behavior, behaviorClose }) {
    const tolerated = behavior === 'UNIMPLEMENTED' && COMPRESSION_SECTIONS.has(id.split('.')[0]!);
    if ((rank(behavior) <= 1 || tolerated) && rank(behaviorClose) <= 1) return tolerated ? 'tolerated' : 'pass';
    return 'fail';
  },
  toleratedNote: (count) => `${count} UNIMPLEMENTED in sections 12-13 (permessage-deflate), tolerated`,
};

/**
 * Our client: OK or INFORMATIONAL only. NON-STRICT is a failure (issue 9: "ours must have 0
 * NON-STRICT"), and so is UNIMPLEMENTED (the client always offers permessage-deflate).
 */
export function clientPolicy(): Policy {
  return {
    judge(_id, { behavior, behaviorClose }) {
      return rank(behaviorClose) === 0 && rank(behavior) === 0 ? 'pass' : 'fail';
    },
    toleratedNote: (count) => `${count} tolerated`,
  };
}

export function compareCaseIds(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether a case id is selected by patterns like `1.*` or `9.1.6` (the Autobahn spec's syntax). */
export function matches(id: string, patterns: string[]): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? id.startsWith(pattern.slice(0, -1)) : id === pattern,
  );
}

/** The grades of the one agent in a report's index.json; `logPath` is named when there is none. */
export function readResults(indexPath: string, logPath: string): Results {
  if (!existsSync(indexPath)) die(`no report at ${indexPath} (see ${logPath})`);
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, Record<string, CaseResult>>;
  const agents = Object.values(index);
  if (agents.length !== 1) die(`expected one agent in index.json, found ${agents.length}`);
  const results: Results = {};
  for (const [id, result] of Object.entries(agents[0]!)) {
    results[id] = { behavior: result.behavior, behaviorClose: result.behaviorClose };
  }
  return results;
}

/**
 * Case number (as in /runCase?case=N) to case id, from the per-case reports next to index.json:
 * each names its number in `case`.
 */
export function readCaseNumbers(indexPath: string): Map<number, string> {
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, Record<string, { reportfile?: string }>>;
  const numbers = new Map<number, string>();
  for (const cases of Object.values(index)) {
    for (const [id, entry] of Object.entries(cases)) {
      if (entry.reportfile === undefined) continue;
      const report = JSON.parse(readFileSync(join(dirname(indexPath), entry.reportfile), 'utf8')) as { case?: unknown };
      if (typeof report.case === 'number') numbers.set(report.case, id);
    }
  }
  return numbers;
}

export function readBaseline(path: string): Results {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Results) : {};
}

export interface Verdict {
  /** Case ids of the report, in case order. */
  readonly ids: string[];
  readonly results: Results;
  /** One line per failed case (or other failure: a case that did not run, a hung case). */
  readonly failures: string[];
  readonly passed: number;
  readonly tolerated: number;
  /** Per section, how many cases got each grade. */
  readonly sections: Map<string, Record<string, number>>;
}

/**
 * Grades every case by `policy` and against `baseline`: a case fails when the policy says so or when
 * it is worse than its baseline; a baseline case that did not run fails too, unless `include` /
 * `exclude` filtered it out.
 */
export function grade(
  results: Results,
  baseline: Results,
  policy: Policy,
  include: string[],
  exclude: string[],
): Verdict {
  const ids = Object.keys(results).sort(compareCaseIds);
  const failures: string[] = [];
  const sections = new Map<string, Record<string, number>>();
  let passed = 0;
  let tolerated = 0;
  for (const id of ids) {
    const result = results[id]!;
    const { behavior, behaviorClose } = result;
    const section = id.split('.')[0]!;
    const row = sections.get(section) ?? {};
    row[behavior] = (row[behavior] ?? 0) + 1;
    sections.set(section, row);

    const judgement = policy.judge(id, result);
    const expected = baseline[id];
    const regressed =
      expected !== undefined &&
      (rank(behavior) > rank(expected.behavior) || rank(behaviorClose) > rank(expected.behaviorClose));
    if (judgement === 'fail' || regressed) {
      failures.push(
        `${id}: ${behavior} / close ${behaviorClose}` +
          (regressed ? ` (baseline: ${expected.behavior} / close ${expected.behaviorClose})` : ''),
      );
    } else if (judgement === 'tolerated') tolerated++;
    else passed++;
  }
  for (const id of Object.keys(baseline)) {
    if (results[id] === undefined && matches(id, include) && !matches(id, exclude)) {
      failures.push(`${id}: did not run (baseline: ${baseline[id]!.behavior})`);
    }
  }
  return { ids, results, failures, passed, tolerated, sections };
}

const GRADES = ['OK', 'NON-STRICT', 'INFORMATIONAL', 'UNIMPLEMENTED', 'WRONG CODE', 'FAILED'];

/** The table per section, as aligned columns and (with `markdown`) as a Markdown table too. */
export function printTable(sections: Verdict['sections'], markdown: boolean): void {
  const others = (row: Record<string, number>): number =>
    Object.entries(row).reduce((sum, [grade, n]) => (GRADES.includes(grade) ? sum : sum + n), 0);
  const header = ['section', 'cases', ...GRADES, 'other'];
  const rows = [...sections.entries()].map(([section, row]) => [
    section,
    String(Object.values(row).reduce((a, b) => a + b, 0)),
    ...GRADES.map((grade) => String(row[grade] ?? 0)),
    String(others(row)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  log('');
  log(line(header));
  for (const row of rows) log(line(row));
  if (markdown) {
    log('');
    log(`| ${header.join(' | ')} |`);
    log(`| ${header.map(() => '---').join(' | ')} |`);
    for (const row of rows) log(`| ${row.join(' | ')} |`);
  }
}

export interface ConcludeOptions {
  readonly policy: Policy;
  readonly markdown: boolean;
  /** Where to write the results as the new baseline; undefined leaves the baseline alone. */
  readonly writeBaselineTo: string | undefined;
}

/** Prints the table, the failures and the last line, writes the baseline if asked, and exits. */
export function conclude(verdict: Verdict, options: ConcludeOptions): never {
  const { ids, results, failures, passed, tolerated } = verdict;
  printTable(verdict.sections, options.markdown);
  log('');
  for (const failure of failures) log(`FAILED ${failure}`);
  if (tolerated > 0) log(options.policy.toleratedNote(tolerated));
  if (options.writeBaselineTo !== undefined) {
    // One line per case, so that a diff of the baseline reads as a list of changed cases.
    const lines = ids.map((id) => `  ${JSON.stringify(id)}: ${JSON.stringify(results[id])}`);
    writeFileSync(options.writeBaselineTo, `{\n${lines.join(',\n')}\n}\n`);
    log(`autobahn: wrote ${ids.length} results to ${options.writeBaselineTo}`);
  }
  log(`${passed} passed, ${failures.length} failed`);
  // The runner's own exit status is not the verdict (kosoku exits non-zero for UNIMPLEMENTED).
  process.exit(failures.length === 0 ? 0 : 1);
}
