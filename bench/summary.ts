/**
 * A case's runs summed up, as results.json carries them: per server the median of each figure
 * over the rounds, ours/peer per round and their median, and each target checked on that median.
 */

import { METRIC_KEYS, peersOf, type CaseDef, type MetricKey, type Metrics, type Peer } from './cases.js';
import type { LoadResult, ServerKind } from './lib/ipc.js';
import type { RunRecord } from './measure.js';
import { median } from './lib/stats.js';

export interface TargetResult {
  readonly text: string;
  readonly metric: MetricKey;
  readonly against: Peer;
  readonly value: number;
  readonly met: boolean;
}

export interface CaseSummary {
  readonly id: string;
  readonly title: string;
  readonly servers: readonly ServerKind[];
  /** The metrics the main table shows for this case (the first is its headline number). */
  readonly metrics: readonly MetricKey[];
  readonly runs: RunRecord[];
  /** Median over rounds, per server, per metric. */
  readonly medians: Partial<Record<ServerKind, Metrics>>;
  /** The kind divided by the others (ours, or ours over HTTP/2). */
  readonly subject: ServerKind;
  /** subject/peer per round, per metric (or the case's paired ratio, where it has one). */
  readonly ratios: Partial<Record<Peer, Partial<Record<MetricKey, number[]>>>>;
  readonly medianRatios: Partial<Record<Peer, Metrics>>;
  readonly targets: TargetResult[];
  readonly generatorSaturated: Partial<Record<ServerKind, number>>;
}

export function summarize(def: CaseDef, runs: RunRecord[], rounds: number): CaseSummary {
  const medians: CaseSummary['medians'] = {};
  const generatorSaturated: CaseSummary['generatorSaturated'] = {};
  for (const kind of def.servers) {
    const mine = runs.filter((run) => run.server === kind && run.ok);
    const metrics: Metrics = {};
    for (const key of METRIC_KEYS) {
      const values = mine.map((run) => run.metrics[key]).filter((v): v is number => v !== undefined);
      if (values.length > 0) metrics[key] = median(values);
    }
    medians[kind] = metrics;
    const saturated = mine.filter((run) => run.generatorSaturated).length;
    if (saturated > 0) generatorSaturated[kind] = saturated;
  }
  const ratios: CaseSummary['ratios'] = {};
  const medianRatios: CaseSummary['medianRatios'] = {};
  const subject = def.subject ?? 'ours';
  // The case's own ratios of each round, where it compares the two runs otherwise than subject/peer.
  const paired = def.pairedRatios as ((ours: LoadResult, peer: LoadResult) => Metrics) | undefined;
  for (const against of peersOf(def)) {
    if (against === subject || !def.servers.includes(against)) continue;
    const perMetric: Partial<Record<MetricKey, number[]>> = {};
    const medianPerMetric: Metrics = {};
    const roundRatios: (Metrics | null)[] = [];
    for (let round = 1; round <= rounds; round++) {
      const ours = runs.find((run) => run.server === subject && run.round === round && run.ok);
      const other = runs.find((run) => run.server === against && run.round === round && run.ok);
      roundRatios[round] =
        paired === undefined || ours === undefined || other === undefined
          ? null
          : paired(ours.detail as unknown as LoadResult, other.detail as unknown as LoadResult);
    }
    for (const key of METRIC_KEYS) {
      const list: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const own = roundRatios[round]?.[key];
        if (own !== undefined) {
          if (Number.isFinite(own)) list.push(own);
          continue;
        }
        const ours = runs.find((run) => run.server === subject && run.round === round && run.ok)?.metrics[key];
        const other = runs.find((run) => run.server === against && run.round === round && run.ok)?.metrics[key];
        if (ours !== undefined && other !== undefined && other !== 0) list.push(ours / other);
      }
      if (list.length > 0) {
        perMetric[key] = list;
        medianPerMetric[key] = median(list);
      }
    }
    ratios[against] = perMetric;
    medianRatios[against] = medianPerMetric;
  }
  const targets = def.targets.map((target) => {
    const value = medianRatios[target.against]?.[target.metric] ?? NaN;
    const holds = (v: number, op: '>=' | '<=', ratio: number): boolean => Number.isFinite(v) && (op === '>=' ? v >= ratio : v <= ratio);
    const alternative = target.orElse;
    const met =
      holds(value, target.op, target.ratio) ||
      (alternative !== undefined && holds(medianRatios[alternative.against]?.[target.metric] ?? NaN, alternative.op, alternative.ratio));
    return { text: target.text, metric: target.metric, against: target.against, value, met };
  });
  return {
    id: def.id,
    title: def.title,
    servers: def.servers,
    subject,
    metrics: def.metrics.map((metric) => metric.key),
    runs,
    medians,
    ratios,
    medianRatios,
    targets,
    generatorSaturated,
  };
}
