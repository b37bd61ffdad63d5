import net from 'node:net';

/**
 * A TCP proxy whose server → client direction shares one rate limit across
 * all its connections (a token bucket refilled every 20 ms), as a congested
 * last mile would: an HLS player behind it sees its downloads slow down.
 * `setRate(Infinity)` lifts the limit. Client → server is not limited.
 */
export interface ThrottleProxy {
  url: string;
  /** Bytes per second downstream; Infinity = unlimited. */
  setRate(bytesPerSecond: number): void;
  close(): Promise<void>;
}

export async function startThrottleProxy(targetPort: number): Promise<ThrottleProxy> {
  let rate = Number.POSITIVE_INFINITY;
  let tokens = 0;
  const queue: { to: net.Socket; chunk: Buffer }[] = [];
  const sockets = new Set<net.Socket>();
  const pump = (): void => {
    while (queue.length > 0) {
      const head = queue[0]!;
      if (!head.to.writable) {
        queue.shift();
        continue;
      }
      if (rate === Number.POSITIVE_INFINITY) {
        head.to.write(head.chunk);
        queue.shift();
        continue;
      }
      if (tokens <= 0) return;
      const n = Math.min(head.chunk.length, Math.ceil(tokens));
      head.to.write(head.chunk.subarray(0, n));
      tokens -= n;
      if (n === head.chunk.length) queue.shift();
      else head.chunk = head.chunk.subarray(n);
    }
  };
  const timer = setInterval(() => {
    if (rate !== Number.POSITIVE_INFINITY) tokens = Math.min(rate * 0.02, tokens + rate * 0.02);
    pump();
  }, 20);
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (c) => upstream.writable && upstream.write(c));
    upstream.on('data', (c) => {
      queue.push({ to: client, chunk: c });
      pump();
    });
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    setRate(bytesPerSecond) {
      rate = bytesPerSecond;
      tokens = 0;
      pump();
    },
    async close() {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
