import { layerLabel, type Player, type PlayerStats } from '@matchmesh/client';
import { useEffect, useRef, useState } from 'react';

type Row = [label: string, value: string];

function rows(stats: PlayerStats | null, kbps: number | null, player: Player | null): Row[] {
  const session = player?.session;
  const last = player?.scores.latest;
  const ice = stats ? `${stats.iceState}${stats.iceProtocol ? ` · ${stats.iceProtocol}` : ''}` : '–';
  const placement = player?.placement;
  const rtts = placement
    ? Object.entries(placement.rtts)
        .map(([region, ms]) => `${region} ${ms === null ? '✕' : `${Math.round(ms)} ms`}`)
        .join(' · ')
    : '';
  return [
    ['Path', player ? `${player.path} · ${player.reason}` : '–'],
    ['Node', session?.nodeId ? `${session.nodeId} (${session.region})` : '–'],
    ['Placement', placement ? `${placement.region ?? '?'} by ${placement.reason} (${placement.tookMs} ms)` : '–'],
    ['RTT', rtts || '–'],
    ['Moves / failovers', player ? `${player.moves.moves} / ${player.moves.failovers}` : '–'],
    ['ICE', ice],
    ['Bitrate', kbps === null ? '–' : `${kbps.toFixed(0)} kbit/s`],
    [
      'Video',
      stats?.frameWidth ? `${stats.frameWidth}×${stats.frameHeight} @ ${stats.framesPerSecond ?? '?'} fps` : '–',
    ],
    ['Layer', layerRow(player)],
    ['Frames', String(stats?.framesDecoded ?? '–')],
    ['Packets a/v', stats ? `${stats.inboundAudioPackets} / ${stats.inboundVideoPackets}` : '–'],
    ['Lost', String(stats?.packetsLost ?? '–')],
    ['Jitter buf', stats?.jitterBufferDelayMs !== undefined ? `${stats.jitterBufferDelayMs.toFixed(0)} ms` : '–'],
    ['Scores', stats ? `${stats.scoresReceived} (seq ${stats.lastSeq})` : '–'],
    ['Gaps / join / dups', stats ? `${stats.gaps} / ${stats.missedAtJoin} / ${stats.duplicates}` : '–'],
    ['Score age', last ? `${Math.max(0, last.receivedAt - last.sentAt)} ms` : '–'],
  ];
}

/** The simulcast layer forwarded now, of how many, and the viewer's choice. */
function layerRow(player: Player | null): string {
  const layers = player?.videoLayers;
  if (!layers) return 'one layer';
  const now = layers.current?.spatialLayer;
  const shown = now === null || now === undefined ? 'none' : layerLabel(layers, now);
  return `${shown} (${(now ?? -1) + 1}/${layers.spatialLayers}) · ${player.quality === 'auto' ? 'auto' : `chosen ${layerLabel(layers, player.quality)}`}`;
}

/** A small polling stats panel. */
export function StatsPanel({ player }: { player: Player | null }) {
  const [stats, setStats] = useState<PlayerStats | null>(null);
  const [kbps, setKbps] = useState<number | null>(null);
  const [open, setOpen] = useState(true);
  const previous = useRef<{ at: number; bytes: number } | null>(null);

  useEffect(() => {
    if (!player || !open) return;
    let cancelled = false;
    const poll = async () => {
      const s = await player.stats();
      if (cancelled) return;
      setStats(s);
      const now = performance.now();
      const prev = previous.current;
      if (s && prev && s.bytesReceived >= prev.bytes) {
        setKbps(((s.bytesReceived - prev.bytes) * 8) / (now - prev.at));
      }
      previous.current = s ? { at: now, bytes: s.bytesReceived } : null;
    };
    void poll();
    const timer = setInterval(() => void poll(), 1000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [player, open]);

  return (
    <aside className={open ? 'stats open' : 'stats'} data-testid="stats">
      <button type="button" className="stats-toggle" onClick={() => setOpen((o) => !o)} aria-expanded={open}>
        Stats
      </button>
      {open ? (
        <dl>
          {rows(stats, kbps, player).map(([label, value]) => (
            <div key={label}>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </aside>
  );
}
