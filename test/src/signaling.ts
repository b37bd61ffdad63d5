import WebSocket from 'ws';

/**
 * A lightweight signaling client for load and failure tests: speaks the /ws
 * protocol (request/response) without any media.
 */
export class TestSignaling {
  readonly ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<number, (msg: Reply) => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as Reply & { notification?: string };
      if (typeof msg.id === 'number') this.#pending.get(msg.id)?.(msg);
    });
  }

  static async connect(nodeUrl: string): Promise<TestSignaling> {
    const ws = new WebSocket(`${nodeUrl.replace(/^http/, 'ws')}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new TestSignaling(ws);
  }

  request(method: string, data: unknown, timeoutMs = 10_000): Promise<Reply> {
    const id = this.#next++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, timeoutMs);
      this.#pending.set(id, (msg) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(msg);
      });
      this.ws.send(JSON.stringify({ id, method, data }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

export type Reply =
  | { id: number; ok: true; data: unknown }
  | { id: number; ok: false; error: { code: string; message: string } };
