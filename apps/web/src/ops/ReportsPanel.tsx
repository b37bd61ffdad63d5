import type { LogsResponse, ReportDetail, ReportSummary } from '@matchmesh/protocol';
import { useCallback, useEffect, useState } from 'react';

const REFRESH_MS = 5000;

async function getJson<T>(url: string, token: string): Promise<T> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const problem = (await res.json().catch(() => null)) as { detail?: string; title?: string } | null;
    throw new Error(`${res.status} ${problem?.detail ?? problem?.title ?? res.statusText}`);
  }
  return (await res.json()) as T;
}

const clock = (at: number) => new Date(at).toLocaleTimeString();
const n = (v: number | null, unit = '') => (v === null ? '—' : `${Math.round(v)}${unit}`);

/**
 * Viewers' problem reports on `/ops`: newest first (refreshed every 5 s, or
 * when `refreshKey` changes — e.g. a 'report' event of the live feed); one
 * opens to its figures second by second, its freezes and ladder moves, and
 * the log lines of its session on the node that served it.
 */
export function ReportsPanel({ token, refreshKey }: { token: string; refreshKey?: unknown }) {
  const [reports, setReports] = useState<ReportSummary[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<ReportDetail | null>(null);
  const [logs, setLogs] = useState<LogsResponse | string | null>(null);

  const refresh = useCallback(async () => {
    try {
      setReports((await getJson<{ reports: ReportSummary[] }>('/api/v1/reports?limit=50', token)).reports);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [token]);

  useEffect(() => {
    void refreshKey;
    void refresh();
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh, refreshKey]);

  const show = async (id: string) => {
    setLogs(null);
    try {
      const detail = await getJson<ReportDetail>(`/api/v1/reports/${encodeURIComponent(id)}`, token);
      setOpen(detail);
      // The node that served the session keeps its lines; the link is absolute (another node, maybe).
      if (detail.logs.url) {
        setLogs(
          await getJson<LogsResponse>(detail.logs.url, token).catch(
            (err: Error) => `not readable from this page (${err.message}): matchmesh report ${id} --logs`,
          ),
        );
      }
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <section className="ops-reports" data-testid="ops-reports" data-available="yes">
      <h2>Problem reports</h2>
      {error ? <p className="error">{error}</p> : null}
      {reports.length === 0 ? <p className="muted">No reports from viewers.</p> : null}
      <ul>
        {reports.map((r) => (
          <li key={r.id} data-report={r.id}>
            <button type="button" className="link" onClick={() => void show(r.id)}>
              <span className="muted">{clock(r.at)}</span> {r.stream} · {r.region}/{r.nodeId} · {r.path} — “{r.text}”
            </button>
          </li>
        ))}
      </ul>
      {open ? (
        <div className="ops-report" data-testid="ops-report" data-report={open.id}>
          <h3>
            Report {open.id} · {open.figures.browser} on {open.figures.os} · session {open.sessionId}
          </h3>
          <p>“{open.text}”</p>
          <table>
            <thead>
              <tr>
                <th>time</th>
                <th>path</th>
                <th>node</th>
                <th>RTT</th>
                <th>loss</th>
                <th>jitter</th>
                <th>frames</th>
                <th>fps</th>
                <th>kbit/s</th>
                <th>layer</th>
              </tr>
            </thead>
            <tbody>
              {open.figures.samples.map((s) => (
                <tr key={s.at}>
                  <td>{clock(s.at)}</td>
                  <td>{s.path}</td>
                  <td>{s.nodeId ?? '—'}</td>
                  <td>{n(s.rttMs, ' ms')}</td>
                  <td>{s.lossPct === null ? '—' : `${s.lossPct.toFixed(1)} %`}</td>
                  <td>{n(s.jitterMs, ' ms')}</td>
                  <td>{s.framesDecoded}</td>
                  <td>{n(s.fps)}</td>
                  <td>{n(s.kbps)}</td>
                  <td>{s.layer ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p>
            Freezes:{' '}
            {open.figures.freezes.map((f) => `${clock(f.at)} ${(f.durationMs / 1000).toFixed(1)} s`).join(', ') ||
              'none'}
            {' · '}Moves:{' '}
            {open.figures.fallbacks.map((m) => `${clock(m.at)} ${m.from}→${m.to} (${m.reason})`).join('; ') || 'none'}
          </p>
          <h3>Log lines of the session on {open.logs.nodeId}</h3>
          {typeof logs === 'string' ? <p className="muted">{logs}</p> : null}
          {logs && typeof logs !== 'string' ? (
            <pre data-testid="ops-report-logs">
              {logs.lines.map((l) => `${clock(Number(l.time))} ${String(l.msg)}`).join('\n') || 'none kept'}
            </pre>
          ) : null}
          {!logs ? (
            <p className="muted">{open.logs.url ? 'loading…' : `${open.logs.nodeId} is not in the cluster now`}</p>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
