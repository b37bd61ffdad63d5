import type { TalkbackVoice } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import type { StreamOutlet } from '../StreamOutlet.ts';

/**
 * Talkback: the commentators of a booth hear each other's voices as they come in (every language, raw, not
 * the mixes), consumed straight from the voice producers on the stream's source router — no mixer on the
 * way, since conversation wants the least delay. This names those voices for one peer: every one but its own.
 */
export function talkbackVoices(outlet: StreamOutlet, own: ReadonlyMap<string, unknown>): TalkbackVoice[] {
  // Voices are produced on the source router only; a peer seated elsewhere has none to hear.
  if (outlet.source !== outlet) return [];
  return outlet.source
    .voices()
    .filter((p) => !own.has(p.id) && !p.closed)
    .map(describeVoice);
}

/** A voice producer as talkback names it (its appData, set when the commentator produced it). */
export function describeVoice(producer: types.Producer): TalkbackVoice {
  const { lang, commentator, name } = producer.appData;
  return {
    producerId: producer.id,
    commentator: typeof commentator === 'string' ? commentator : producer.id,
    ...(typeof name === 'string' ? { name } : {}),
    lang: typeof lang === 'string' ? lang : '',
  };
}
