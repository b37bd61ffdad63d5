import type { ReportDetail, ReportSummary } from '@matchmesh/protocol';
import { age, table } from './format.ts';

/** `matchmesh reports`: one line each, newest first. */
export function formatReports(reports: readonly ReportSummary[], now: number): string {
  if (reports.length === 0) return 'no problem reports';
  const rows = reports.map((r) => [
    r.id,
    `${age(now - r.at)} ago`,
    r.stream,
    `${r.region}/${r.nodeId}`,
    r.path,
    oneLine(r.text, 60),
  ]);
  return table(['id', 'when', 'stream', 'node', 'path', 'text'], rows);
}

/** `matchmesh report <id>`: the words, where, then the figures as a short table (one row per sample). */
export function formatReport(report: ReportDetail): string {
  const f = report.figures;
  const head = [
    `report ${report.id} — ${new Date(report.at).toISOString()}`,
    `stream ${report.stream} · node ${report.nodeId} (${report.region}) · path ${report.path} · session ${report.sessionId}`,
    `${f.browser} on ${f.os} · placement RTTs ${rtts(f.placementRtts)}`,
    '',
    `  "${report.text}"`,
    '',
  ];
  const t0 = f.samples[0]?.at ?? report.at;
  const rows = f.samples.map((s) => [
    rel(s.at, t0),
    s.path,
    s.nodeId ?? '-',
    num(s.rttMs, 'ms'),
    s.lossPct === null ? '-' : `${s.lossPct.toFixed(1)}%`,
    num(s.jitterMs, 'ms'),
    String(s.framesDecoded),
    num(s.fps, ''),
    num(s.kbps, 'kb/s'),
    s.layer ?? '-',
  ]);
  const samples =
    rows.length > 0
      ? table(['t', 'path', 'node', 'rtt', 'loss', 'jitter', 'frames', 'fps', 'bitrate', 'layer'], rows)
      : 'no samples';
  const freezes =
    f.freezes.length > 0
      ? `freezes: ${f.freezes.map((z) => `${rel(z.at, t0)} ${(z.durationMs / 1000).toFixed(1)}s`).join(', ')}`
      : 'freezes: none';
  const moves =
    f.fallbacks.length > 0
      ? `moves: ${f.fallbacks.map((m) => `${rel(m.at, t0)} ${m.from}→${m.to} (${m.reason})`).join('; ')}`
      : 'moves: none';
  const logs = `logs: ${report.logs.url ?? `node ${report.logs.nodeId} is not in the cluster now`}`;
  return [...head, samples, '', freezes, moves, logs].join('\n');
}

/** A session's log lines: time, level, message, and the other fields as key=value. */
export function formatLogLines(lines: readonly Record<string, unknown>[]): string {
  if (lines.length === 0) return 'no log lines for this session on that node (restarted, or its ring moved on)';
  const skip = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'session']);
  return lines
    .map((l) => {
      const time = typeof l.time === 'number' ? new Date(l.time).toISOString().slice(11, 23) : '';
      const rest = Object.entries(l)
        .filter(([k]) => !skip.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      return `${time} ${LEVELS[Number(l.level)] ?? l.level} ${String(l.msg ?? '')} ${rest}`.trimEnd();
    })
    .join('\n');
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

function rtts(r: Record<string, number | null>): string {
  const entries = Object.entries(r);
  return entries.length > 0 ? entries.map(([k, v]) => `${k} ${v === null ? '✕' : `${v} ms`}`).join(' · ') : '-';
}

/** Seconds from the first sample: `+3s`, or `-2s` for a move before it. */
function rel(at: number, t0: number): string {
  const s = Math.round((at - t0) / 1000);
  return s < 0 ? `${s}s` : `+${s}s`;
}

function num(v: number | null, unit: string): string {
  return v === null ? '-' : `${Math.round(v)}${unit ? ` ${unit}` : ''}`;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
