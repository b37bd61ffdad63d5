import type { Flags } from '../flags.ts';
import { ratio } from '../stats.ts';
import type { Table } from '../table.ts';
import { FREEZE_MS, type Row, TODAY } from './longhaul-measure.ts';
import type { LossPattern } from './longhaul-patterns.ts';

// The longhaul scenario's table: one row per far relay and loss pattern, its
// bytes and freezes set against today's pipe on the same run.

export function longhaulTable(
  rows: Row[],
  patterns: LossPattern[],
  flags: Pick<Flags, 'longhaulRttMs' | 'longhaulRtxMaxAge'>,
  seconds: number,
): Table {
  // One copy over the haul without loss: what every row's bytes are compared with.
  const oneCopy = rows.find((r) => r.relay === TODAY && r.pattern === patterns[0]!.label)!;
  const noDelay = (pattern: string): Row => rows.find((r) => r.relay === TODAY && r.pattern === pattern)!;
  return {
    title: `long haul Europe → Asia, ${flags.longhaulRttMs} ms round trip, pipe NACK/RTX: today's pipe / tuned / dual path / tuned + rtx age bound at once, ${seconds} s per pattern`,
    columns: [
      'far relay',
      'loss on the haul',
      'frames',
      `freezes > ${FREEZE_MS} ms`,
      'longest freeze ms',
      "freezes x today's",
      'dropped on the haul %',
      'residual at the viewer %',
      'residual after the merge %',
      'key frames to origin /s',
      'sent on the haul kbit/s',
      'bytes x one copy',
      'NACKed over the haul',
      'retransmitted over the haul',
      'video rtx seen at the far end',
      'of which later than the playout delay',
    ],
    rows: rows.map((r) => [
      r.relay,
      r.pattern,
      r.frames,
      r.freezes,
      Math.round(r.longestFreezeMs),
      r.relay === TODAY ? null : ratio(r.freezes, noDelay(r.pattern).freezes),
      r.droppedPct,
      r.residualPct,
      r.mergeResidualPct,
      r.keyFramesToOrigin / r.seconds,
      r.haulKbps,
      ratio(r.haulKbps, oneCopy.haulKbps),
      r.nacked,
      r.retransmitted,
      r.rtxSeen,
      r.rtxLate,
    ]),
    notes: [
      'loss on the media towards Asia only; NACKs, PLIs and reports travel back over the same 100 ms unharmed',
      'dual path: the pattern on both of its hauls (ingest → Asia, eu relay → Asia), each path losing on its own',
      'residual: packets (audio + video) the viewer counts lost — what retransmission (and the merge) did not recover, plus what the relay → browser hop lost on this loaded machine (see the 0 % rows)',
      "residual after the merge: the dual relay's own count of packets neither path delivered (GET /api/v1/pipes dualPath.residual), % of what it sent",
      "key frames to origin: the ingest's count, shared by the three far relays",
      "bytes x one copy: what crossed the haul(s) against today's pipe at 0 % (the dual path sends two copies)",
      `rtx age bound: that row's upstream runs MM_PIPE_RTX_MAX_AGE_MS=${flags.longhaulRtxMaxAge} (worker patch 003: a NACKed packet older than the bound is not sent again); every other pipe 0`,
      "NACKed / retransmitted: the upstream pipes' counters (GET /api/v1/pipes link.nacked, link.retransmitted: packets, audio + video)",
      "video rtx seen / later than the playout delay: RTX packets arriving at the far end of the haul, and those more than the viewer's playout delay after their frame's first packet (too late to play); none counted for today's pipe (the browser's own delay)",
    ],
  };
}
