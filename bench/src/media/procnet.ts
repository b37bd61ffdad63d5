// Per-socket kernel drop counters from /proc/net/udp (last column): datagrams
// that arrived while the owner's receive buffer was full. On the ingest port
// they mean the relay worker was not scheduled in time; on the sink's ports
// that the sink could not keep up. Either way it is not the relay's logic.
import { readFileSync } from 'node:fs';

export function udpDrops(ports: readonly number[]): number {
  const mine = new Set(ports.map((p) => p.toString(16).toUpperCase().padStart(4, '0')));
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (!local) continue;
    const port = local.split(':')[1]!;
    if (local.startsWith('0100007F') && mine.has(port)) drops += Number(cols[cols.length - 1]);
  }
  return drops;
}
