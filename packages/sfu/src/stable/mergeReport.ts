import type { PathMerge, PathShare } from './PathMerge.ts';

/** What each path of a merged source did so far, summed over the layers. */
export interface MergeReport {
  paths: Map<string, Omit<PathShare, 'lastAt'> & { lastAt: number | undefined }>;
  /** Packets no path delivered (the loss left after the merge). */
  missing: number;
}

/** One merged source on one track: its paths' shares summed over the track's layers (one PathMerge each). */
export function mergeReportOfLayers(pathIds: Iterable<string>, merges: readonly PathMerge[]): MergeReport {
  const paths: MergeReport['paths'] = new Map();
  for (const id of pathIds) paths.set(id, { won: 0, duplicates: 0, unmatched: 0, lastAt: undefined });
  let missing = 0;
  for (const m of merges) {
    missing += m.missing;
    for (const [id, share] of m.shares()) {
      const p = paths.get(id);
      if (!p) continue;
      p.won += share.won;
      p.duplicates += share.duplicates;
      p.unmatched += share.unmatched;
      if (p.lastAt === undefined || share.lastAt > p.lastAt) p.lastAt = share.lastAt;
    }
  }
  return { paths, missing };
}

/** One merged source on a program: its tracks' reports (one per media kind) summed; undefined if none. */
export function sumMergeReports(reports: Iterable<MergeReport | undefined>): MergeReport | undefined {
  let out: MergeReport | undefined;
  for (const r of reports) {
    if (!r) continue;
    out ??= { paths: new Map(), missing: 0 };
    out.missing += r.missing;
    for (const [path, share] of r.paths) {
      const p = out.paths.get(path) ?? { won: 0, duplicates: 0, unmatched: 0, lastAt: undefined };
      p.won += share.won;
      p.duplicates += share.duplicates;
      p.unmatched += share.unmatched;
      if (share.lastAt !== undefined && (p.lastAt === undefined || share.lastAt > p.lastAt)) p.lastAt = share.lastAt;
      out.paths.set(path, p);
    }
  }
  return out;
}
