import { token } from './node.ts';

/** Scrape a node's Prometheus text (admin token) and return `name{labels} value` samples. */
export async function scrapeMetrics(nodeUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${nodeUrl}/metrics`, {
    headers: { Authorization: `Bearer ${await token('admin', '*')}` },
  });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    // Drop the default labels (node, region) so keys are stable across nodes.
    const key = line
      .slice(0, at)
      .replace(/,?(node|region)="[^"]*"/g, '')
      .replace('{,', '{')
      .replace('{}', '');
    samples.set(key, Number(line.slice(at + 1)));
  }
  return samples;
}

/** Live mediasoup objects by type, from the node's mm_media_objects gauge. */
export async function mediaObjects(nodeUrl: string): Promise<Record<string, number>> {
  const samples = await scrapeMetrics(nodeUrl);
  const counts: Record<string, number> = {};
  for (const [key, value] of samples) {
    const m = /^mm_media_objects\{type="(\w+)"\}$/.exec(key);
    if (m) counts[m[1]!] = value;
  }
  return counts;
}

/**
 * Key-frame requests a node's stable program sent upstream for `stream` so far
 * (mm_keyframe_requests_upstream: on an ingest what reached the origin, on a
 * relay what crossed its pipe).
 */
export async function keyFrameRequestsUpstream(nodeUrl: string, stream: string): Promise<number> {
  return (await scrapeMetrics(nodeUrl)).get(`mm_keyframe_requests_upstream{stream="${stream}"}`) ?? 0;
}
