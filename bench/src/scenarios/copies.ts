// Scenario 6 — inter-region copies: an ingest (eu) and three relays in two
// regions (eu-1, eu-2, asia-1) as real node processes, N signaling viewers
// joined across the relays. tcpdump counts the UDP bytes leaving the ingest's
// pipe port range, and the bytes the origin sends into the ingest's
// WebRtcServer port; their quotient is the number of copies of the stream
// that leave the ingest. Goal: the region count (2), not the relay count (3)
// and not the viewer count (N).
import { LoopbackCapture, tcpdumpAvailable } from '../media/capture.ts';
import { Mesh, type TestNode, TestSignaling, token } from '../mesh.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { sleep } from '../stats.ts';

const STREAM = 'bench-copies';

export const copies: Scenario = {
  name: 'copies',
  description: 'inter-region copies: bytes leaving the ingest per stream ÷ stream bitrate, 3 relays in 2 regions',
  async run(ctx): Promise<ScenarioResult> {
    if (!tcpdumpAvailable()) {
      return {
        tables: [
          {
            title: 'inter-region copies',
            columns: ['status'],
            rows: [['not available: tcpdump missing (npm run setup)']],
          },
        ],
        data: { available: false },
      };
    }
    const base = 40000 + (process.pid % 40) * 50;
    const ingestPorts = { rtc: base, min: base + 1, max: base + 49 };
    const mesh = await Mesh.start();
    const capture = new LoopbackCapture(
      `udp and (dst port ${ingestPorts.rtc} or src portrange ${ingestPorts.min}-${ingestPorts.max})`,
    );
    const clients: TestSignaling[] = [];
    try {
      await capture.ready();
      const ingest = await mesh.node({
        MM_NODE_ID: 'bench-ingest',
        MM_ROLES: 'ingest',
        MM_REGION: 'eu',
        MM_RTC_PORT: String(ingestPorts.rtc),
        MM_RTC_MIN_PORT: String(ingestPorts.min),
        MM_RTC_MAX_PORT: String(ingestPorts.max),
      });
      const relays: Array<{ region: string; node: TestNode }> = [];
      for (const [id, region] of [
        ['bench-eu-1', 'eu'],
        ['bench-eu-2', 'eu'],
        ['bench-asia-1', 'asia'],
      ] as const) {
        relays.push({
          region,
          node: await mesh.node({ MM_NODE_ID: id, MM_ROLES: 'relay', MM_REGION: region }),
        });
      }
      await mesh.origin(ingest, STREAM);
      await mesh.waitLive(ingest, STREAM).catch(() => mesh.waitLive(relays[0]!.node, STREAM));
      const viewerToken = await token('viewer', STREAM);
      const n = ctx.flags.copiesViewers;
      let joined = 0;
      for (let i = 0; i < n; i++) {
        const relay = relays[i % relays.length]!;
        const c = await TestSignaling.connect(relay.node.url);
        clients.push(c);
        if ((await c.request('join', { stream: STREAM, token: viewerToken })).ok) joined++;
      }
      // Let the pipes settle (claims, pipe.open, first keyframes).
      await sleep(3000);
      // The ingest's own view of its pipes, read as the window opens.
      const adminToken = await token('admin', '*');
      const pipeList = (await (
        await fetch(`${ingest.url}/api/v1/pipes`, { headers: { Authorization: `Bearer ${adminToken}` } })
      ).json()) as { pipes: Array<{ direction: string; peerRegion: string; peerNodeId: string }> };
      capture.start();
      const seconds = Math.max(5, ctx.flags.stepSeconds);
      await sleep(seconds * 1000);
      const flows = capture.stop();
      const inBytes = flows.filter((f) => f.dstPort === ingestPorts.rtc).reduce((a, f) => a + f.bytes, 0);
      const out = flows.filter((f) => f.srcPort >= ingestPorts.min && f.srcPort <= ingestPorts.max);
      const outBytes = out.reduce((a, f) => a + f.bytes, 0);
      // A pipe is one (ingest port → peer port) flow carrying media; tiny
      // flows (keep-alives) are not copies.
      const pipes = out.filter((f) => f.bytes > inBytes * 0.2);
      const outPipes = pipeList.pipes.filter((p) => p.direction === 'out');
      const copiesMeasured = inBytes > 0 ? outBytes / inBytes : null;
      const mbps = (b: number) => (b * 8) / seconds / 1e6;
      return {
        tables: [
          {
            title: `inter-region copies: ingest (eu) + relays eu-1, eu-2, asia-1; ${joined}/${n} viewers joined; ${seconds} s`,
            columns: ['figure', 'value'],
            rows: [
              ['stream into the ingest (origin → ingest), Mbps', mbps(inBytes)],
              ['leaving the ingest on pipes, Mbps', mbps(outBytes)],
              ['copies leaving the ingest (out ÷ in) — measured', copiesMeasured],
              ['media flows leaving the ingest (tcpdump)', pipes.length],
              [
                'out pipes the ingest reports (/api/v1/pipes)',
                `${outPipes.length} (${outPipes
                  .map((p) => p.peerRegion)
                  .sort()
                  .join(', ')})`,
              ],
              ['reference: regions (goal)', 2],
              ['reference: one copy per relay (mesh without region copies)', relays.length],
              ['reference: one copy per viewer (no mesh, all on the ingest)', joined],
              ['ratio measured ÷ one-copy-per-relay', copiesMeasured === null ? null : copiesMeasured / relays.length],
              ['ratio measured ÷ one-copy-per-viewer', copiesMeasured === null ? null : copiesMeasured / joined],
            ],
            notes: [
              'the references are computed, not measured: the node has no switch to turn region copies off',
              'bytes are UDP payloads on loopback: SRTP + RTX + RTCP + SCTP scores on the pipes, SRTP + RTCP + STUN from the origin',
            ],
          },
        ],
        data: { inBytes, outBytes, seconds, copiesMeasured, flows: out, outPipes, joined },
      };
    } finally {
      for (const c of clients) c.close();
      await capture.close();
      await mesh.close();
    }
  },
};
