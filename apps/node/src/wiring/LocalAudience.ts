/**
 * How many consumers of a stream this node serves, summed over every kind
 * of consumer (signaling peers, the HLS packager). The mesh reads it to let
 * an unwatched region copy linger out; the consumers are added once they are
 * built, which breaks the cycle mesh → consumers → stream resolver → mesh.
 */
export class LocalAudience {
  readonly #sources: ((stream: string) => number)[] = [];

  add(count: (stream: string) => number): void {
    this.#sources.push(count);
  }

  count(stream: string): number {
    let n = 0;
    for (const source of this.#sources) n += source(stream);
    return n;
  }
}
