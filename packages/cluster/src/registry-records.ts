import { type DrainRemaining, NodeRecord, type NodeRecordInput } from '@matchmesh/protocol';
import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';

/** What a node reports beside its record on each heartbeat (RegisterOptions' callbacks, or none). */
export interface RecordReporters {
  load: (() => NodeRecordInput['load']) | null;
  drain: (() => DrainRemaining) | null;
}

/**
 * The record with a fresh timestamp and load (and, while draining, what the
 * node still holds); a throwing or invalid load callback keeps the old load,
 * because one bad report must not take the node off the registry.
 */
export function freshNodeRecord(base: NodeRecord, reporters: RecordReporters, logger: Logger): NodeRecord {
  let load = base.load;
  if (reporters.load) {
    try {
      const checked = NodeRecord.shape.load.safeParse(reporters.load());
      if (checked.success) load = checked.data;
      else
        logger.warn(
          { issues: checked.error.issues },
          'load callback returned an invalid load; keeping the previous one',
        );
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'load callback threw; keeping the previous load');
    }
  }
  const { drain: _previous, ...rest } = base;
  let drain: DrainRemaining | undefined;
  if (base.draining && reporters.drain) {
    try {
      drain = reporters.drain();
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'drain callback threw; no drain report this heartbeat');
    }
  }
  return { ...rest, load, ...(drain ? { drain } : {}), heartbeatAt: Date.now() };
}

/**
 * A record as stored under `node:<id>`, with the draining flag read beside
 * it; null (logged) when it is not JSON, not a valid record, or another
 * node's: a peer's bad write must not break everyone's list().
 */
export function parseNodeRecord(id: string, raw: unknown, draining: boolean, logger: Logger): NodeRecord | null {
  let json: unknown;
  try {
    json = JSON.parse(String(raw));
  } catch {
    logger.warn({ nodeId: id }, 'skipping node record that is not JSON');
    return null;
  }
  const parsed = NodeRecord.safeParse(json);
  if (!parsed.success) {
    logger.warn({ nodeId: id, issues: parsed.error.issues }, 'skipping malformed node record');
    return null;
  }
  if (parsed.data.id !== id) {
    logger.warn({ nodeId: id, recordId: parsed.data.id }, 'skipping node record stored under another id');
    return null;
  }
  return { ...parsed.data, draining };
}
