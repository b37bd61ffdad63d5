import { BoothResponse, type StreamSummary } from '@matchmesh/protocol';
import { useEffect, useState } from 'react';

const REFRESH_MS = 2000;

/** A level bar's width: −60 dBov and below is empty, 0 dBov full. */
const levelPercent = (dbov: number | null): number =>
  dbov === null ? 0 : Math.max(0, Math.min(100, ((dbov + 60) / 60) * 100));

/**
 * The commentary booths of the streams this node ingests (issue 16): who is on
 * air, in which language, their voice level, loss and RTT — from
 * `GET /api/v1/streams/:stream/booth`, polled. A booth lives on its stream's
 * ingest (commentators produce there), so a stream ingested elsewhere is left
 * out; open /ops on its ingest, or `matchmesh booth <stream> --url <ingest>`.
 */
export function BoothPanel({ token, streams, nodeId }: { token: string; streams: StreamSummary[]; nodeId?: string }) {
  const [booths, setBooths] = useState<BoothResponse[]>([]);
  const ingested = streams.filter((s) => s.ingest?.nodeId === nodeId).map((s) => s.stream);
  const key = ingested.join(',');

  useEffect(() => {
    let stopped = false;
    const names = key ? key.split(',') : [];
    const load = async () => {
      const answers = await Promise.all(
        names.map(async (stream) => {
          try {
            const res = await fetch(`/api/v1/streams/${encodeURIComponent(stream)}/booth`, {
              headers: { Authorization: `Bearer ${token}` },
            });
            return res.ok ? BoothResponse.parse(await res.json()) : null;
          } catch {
            return null;
          }
        }),
      );
      if (!stopped) setBooths(answers.filter((b): b is BoothResponse => !!b && b.languages.length > 0));
    };
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [token, key]);

  if (booths.length === 0) return null;
  return (
    <section className="booth" data-testid="ops-booth">
      <h2>Commentary booth</h2>
      {booths.map((b) => (
        <section key={b.stream} data-stream={b.stream}>
          <h3>
            {b.stream}{' '}
            <span className="muted">
              on air: {b.languages.map((l) => `${l.lang} (${l.commentators})`).join(', ')}
              {mixerLags(b)}
            </span>
          </h3>
          {b.commentators.length === 0 ? (
            <p className="muted">No commentator on air (the languages linger).</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>commentator</th>
                  <th>lang</th>
                  <th>level</th>
                  <th>loss</th>
                  <th>RTT</th>
                  <th>kbit/s</th>
                </tr>
              </thead>
              <tbody>
                {b.commentators.map((c) => (
                  <tr key={c.id} data-testid="ops-booth-commentator" data-lang={c.lang}>
                    <td title={c.id}>{c.id.slice(0, 8)}</td>
                    <td>{c.lang}</td>
                    <td>
                      <span className="level-bar" title={c.levelDbov === null ? 'no level yet' : `${c.levelDbov} dBov`}>
                        <span style={{ width: `${levelPercent(c.levelDbov)}%` }} />
                      </span>{' '}
                      {c.levelDbov === null ? '-' : `${c.levelDbov} dBov`}
                    </td>
                    <td>{c.lossPercent.toFixed(1)}%</td>
                    <td>{c.rttMs === null ? '-' : `${c.rttMs.toFixed(0)} ms`}</td>
                    <td>{(c.bitrate / 1000).toFixed(0)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </section>
  );
}

/** The mixers' lag as the node measures it (part of each language's delay against the picture), if measured. */
function mixerLags(b: BoothResponse): string {
  const lags = b.languages.flatMap((l) => (l.mixerLagMs === undefined ? [] : [`${l.lang} ${l.mixerLagMs} ms`]));
  return lags.length > 0 ? ` · mixer lag ${lags.join(', ')}` : '';
}
