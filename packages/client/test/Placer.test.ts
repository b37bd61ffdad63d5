import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EdgesResponse } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Placer } from '../src/Placer.ts';

/** Two real HTTP "relays" of one region, each answering the edges list (naming both) and the RTT probe. */
async function twoRelays(): Promise<{
  urls: [string, string];
  edgesAsked: () => number;
  kill: (i: number) => void;
  close: () => void;
}> {
  let asked = 0;
  const servers: Server[] = [];
  const urls: string[] = [];
  for (let i = 0; i < 2; i++) {
    const server = createServer((req, res) => {
      if (req.url?.includes('/edges')) {
        asked++;
        const edges: EdgesResponse = {
          stream: 'match',
          regions: [
            {
              region: 'eu',
              nodes: urls.map((url, n) => ({ id: `eu-${n}`, url, probeUrl: `${url}/probe`, load: 0.1 })),
            },
          ],
          guess: 'eu',
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(edges));
      } else {
        res.writeHead(204).end();
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  const kill = (i: number): void => {
    servers[i]?.closeAllConnections();
    servers[i]?.close();
  };
  return {
    urls: urls as [string, string],
    edgesAsked: () => asked,
    kill,
    close: () => servers.forEach((_, i) => kill(i)),
  };
}

describe('Placer', () => {
  let close = (): void => {};
  afterEach(() => close());

  it('keeps a pinned viewer on its node, yet learns the other relays so a failover has somewhere to go', async () => {
    const relays = await twoRelays();
    close = relays.close;
    const [pinned, other] = relays.urls;
    const placer = new Placer({ nodeUrl: pinned, stream: 'match', token: 't', placement: false });

    const first = await placer.next();
    expect(first.nodeUrl).toBe(pinned);
    // The look-up runs in the background: the pinned decision did not wait for it.
    await expect.poll(() => relays.edgesAsked()).toBe(1);
    // A retry that is not the node's fault stays pinned.
    expect((await placer.next()).nodeUrl).toBe(pinned);

    // The pinned node dies (the page came from it too): the relay learnt from its edges list takes the viewer.
    relays.kill(0);
    const moved = await placer.next({ url: pinned, id: 'eu-0' });
    expect(moved.nodeUrl).toBe(other);
  });
});
