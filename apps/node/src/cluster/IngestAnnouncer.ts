import type { StreamDirectory } from '@matchmesh/cluster';
import type { MediaService, SourceRole } from '@matchmesh/sfu';
import type { Logger } from 'pino';

/**
 * Keeps the stream directory right about the ingests on this node: the
 * primary WHIP session is the stream's active ingest, and every session
 * (primary or backup) is listed as a copy relays may pull.
 */
export class IngestAnnouncer {
  readonly #media: MediaService;
  readonly #directory: StreamDirectory;
  readonly #nodeId: string;
  readonly #log: Logger;

  constructor(media: MediaService, directory: StreamDirectory, nodeId: string, log: Logger) {
    this.#media = media;
    this.#directory = directory;
    this.#nodeId = nodeId;
    this.#log = log;
  }

  /** Follow publishes and unpublishes from now on. */
  start(): void {
    this.#media.on('published', (stream, role) => this.#announce(stream, role));
    this.#media.on('unpublished', (stream, role) => {
      // A replacement session of the same origin may already be up (reconnect): keep the entry then.
      if ([...this.#media.whip.values()].some((s) => s.stream.stream === stream && s.role === role)) return;
      this.#write('remove ingest copy', stream, role, this.#directory.removeIngestCopy(stream, this.#nodeId, role));
      if (role === 'primary')
        this.#write('remove ingest', stream, role, this.#directory.removeIngest(stream, this.#nodeId));
    });
  }

  /** Say again what this node holds (Redis came back empty, or this is a fresh registration). */
  announceAll(): void {
    for (const session of this.#media.whip.values()) this.#announce(session.stream.stream, session.role);
  }

  #announce(stream: string, role: SourceRole): void {
    // The primary is the active ingest; a backup is listed as a copy relays pull next to it.
    if (role === 'primary') {
      this.#write('set ingest', stream, role, this.#directory.setIngest(stream, this.#nodeId, { role }));
    }
    this.#write('set ingest copy', stream, role, this.#directory.setIngestCopy(stream, this.#nodeId, role));
  }

  #write(op: string, stream: string, role: SourceRole, p: Promise<unknown>): void {
    // Logged, not retried: when Redis is back the registry re-registers, and 'registered' re-announces what is held.
    p.catch((err: unknown) => this.#log.warn({ err, op, stream, role }, 'stream directory update failed'));
  }
}
