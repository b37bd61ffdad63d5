import type { PlayoutAdvisor } from '@matchmesh/mesh';
import type { ViewerPlayout } from '../signaling/Peer.ts';

/** MM_VIEWER_PLAYOUT_DELAY_MS=<ms>: the same delay for every stream, never changing. */
export function fixedPlayout(delayMs: number): ViewerPlayout {
  return { delayFor: () => delayMs, watch: () => () => undefined };
}

/** MM_VIEWER_PLAYOUT_DELAY_MS=auto: each stream's delay from its upstream pipe (packages/mesh PlayoutAdvisor). */
export function advisedPlayout(advisor: PlayoutAdvisor): ViewerPlayout {
  return {
    delayFor: (stream) => advisor.delayFor(stream),
    watch(stream, onChange) {
      const listener = (s: string, delayMs: number): void => {
        if (s === stream) onChange(delayMs);
      };
      advisor.on('change', listener);
      const unwatch = advisor.watch(stream);
      return () => {
        advisor.off('change', listener);
        unwatch();
      };
    },
  };
}
