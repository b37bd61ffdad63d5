import {
  LIVE_END_EVENT,
  LIVE_OPS_EVENT,
  LIVE_SNAPSHOT_EVENT,
  type OpsEvent,
  type OpsSnapshot,
} from '@matchmesh/protocol';
import { useCallback, useEffect, useState } from 'react';
import { appendHistory, bitrateSeries, mergeEvents } from './model.ts';

export interface OpsLive {
  snapshot: OpsSnapshot | null;
  events: OpsEvent[];
  /** Bitrate out per node id (and '*' for the cluster), one point per snapshot. */
  history: Map<string, number[]>;
  /** Why the page cannot show the cluster ("403 token does not grant admin…"), or null. */
  error: string | null;
  /** The stream is open (false while it reconnects). */
  connected: boolean;
  /** After an action: read the cluster again now instead of at the next snapshot. */
  refresh: () => Promise<void>;
}

export async function getJson<T>(path: string, token: string): Promise<T> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const problem = (await res.json().catch(() => null)) as { detail?: string; title?: string } | null;
    throw new Error(`${res.status} ${problem?.detail ?? problem?.title ?? res.statusText}`);
  }
  return (await res.json()) as T;
}

/**
 * The cluster, live: `GET /api/v1/live` (server-sent events; EventSource
 * reconnects on its own) pushes a snapshot every ~2 s and every event as it
 * is appended. A first plain request checks the token, since EventSource
 * cannot tell a 403 from a network error.
 */
export function useOpsLive(token: string): OpsLive {
  const [snapshot, setSnapshot] = useState<OpsSnapshot | null>(null);
  const [events, setEvents] = useState<OpsEvent[]>([]);
  const [history, setHistory] = useState(new Map<string, number[]>());
  const [error, setError] = useState<string | null>(null);
  const [connected, setConnected] = useState(false);

  const take = useCallback((next: OpsSnapshot) => {
    setSnapshot(next);
    setHistory((h) => appendHistory(h, bitrateSeries(next)));
  }, []);

  const refresh = useCallback(async () => {
    try {
      const { nodes } = await getJson<Pick<OpsSnapshot, 'nodes'>>('/api/v1/nodes', token);
      setSnapshot((s) => (s ? { ...s, nodes } : s));
    } catch (err) {
      setError((err as Error).message);
    }
  }, [token]);

  useEffect(() => {
    if (!token) return;
    let source: EventSource | null = null;
    let stopped = false;
    void (async () => {
      try {
        const { events: recent } = await getJson<{ events: OpsEvent[] }>('/api/v1/events?limit=100', token);
        setEvents((e) => mergeEvents(e, recent));
      } catch (err) {
        setError((err as Error).message);
        return;
      }
      if (stopped) return;
      source = new EventSource(`/api/v1/live?token=${encodeURIComponent(token)}`);
      source.onopen = () => {
        setConnected(true);
        setError(null);
      };
      source.onerror = () => setConnected(false);
      source.addEventListener(LIVE_SNAPSHOT_EVENT, (m) => take(JSON.parse((m as MessageEvent).data) as OpsSnapshot));
      source.addEventListener(LIVE_OPS_EVENT, (m) => {
        const event = JSON.parse((m as MessageEvent).data) as OpsEvent;
        setEvents((e) => mergeEvents(e, [event]));
      });
      source.addEventListener(LIVE_END_EVENT, (m) => {
        // The node ended the stream on purpose (token expired, node closing): say so; reconnecting is EventSource's.
        setError(`live stream ended: ${JSON.parse((m as MessageEvent).data) as string}`);
      });
    })();
    return () => {
      stopped = true;
      source?.close();
    };
  }, [token, take]);

  return { snapshot, events, history, error, connected, refresh };
}
