import WebSocket from 'ws';
import type { ManagedProcess } from './processes.ts';

/**
 * Talks to a child started with `--inspect=127.0.0.1:0` over the DevTools
 * protocol: lets a leak test force a full GC in the node process and read its
 * heap afterwards, without any test-only code in the node itself.
 */
export class InspectorClient {
  readonly #ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { id?: number; result?: unknown };
      if (msg.id !== undefined) this.#pending.get(msg.id)?.(msg.result);
    });
  }

  /** Connect to the inspector URL the child printed ("Debugger listening on ws://..."). */
  static async attach(proc: ManagedProcess): Promise<InspectorClient> {
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(proc.output())?.[1];
    if (!url) throw new Error('the process was not started with --inspect');
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new InspectorClient(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve) => {
      this.#pending.set(id, (result) => {
        this.#pending.delete(id);
        resolve(result as T);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Full GC, then the JS heap in use (bytes). */
  async heapUsedAfterGc(): Promise<number> {
    await this.call('HeapProfiler.collectGarbage');
    const { result } = await this.call<{ result: { value: number } }>('Runtime.evaluate', {
      expression: 'process.memoryUsage().heapUsed',
      returnByValue: true,
    });
    return result.value;
  }

  close(): void {
    this.#ws.close();
  }
}
