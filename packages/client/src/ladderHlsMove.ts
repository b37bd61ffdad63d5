import type { Row, Step } from './ladderStep.ts';

/*
 * The HLS rung's drain move (and its reload on the same relay when the
 * commentary languages change), as rows of the ladder's table (ladder.ts). A
 * draining relay says so on every HLS answer; the player then plays another
 * relay of the region in a second hls.js on the spare (hidden) element and
 * swaps it in once it presents frames — make before break, as the WebRTC
 * move does. Relays package HLS independently (their segment numbers and
 * decode times differ), so the old hls.js is never re-pointed: a new session
 * starts on the new relay's own timeline. A failed move is reported by the
 * shared 'move-failed' row; the relay's next drain notice tries again.
 */

/** The move's session becomes the HLS session (its element shown, the old one closed). A reload is no move. */
function swap(s: Step, why: string, connected: boolean): void {
  const { hlsReason, hlsReload } = s.next;
  const label = hlsReload ? `reloaded: ${why === 'moved' ? 'languages changed' : why}` : why;
  s.set({ standby: 'none', hlsReload: false, moves: s.next.moves + (hlsReload ? 0 : 1) })
    .do({ do: 'swap-hls', why: label })
    .report(connected ? 'connected' : 'connecting', 'hls', `${hlsReason} (${label})`);
}

/** The relay being left failed before the move was ready: the move's session takes over at once. */
export function swapHlsEarly(s: Step, connected: boolean): void {
  swap(s, 'moved early', connected);
}

export const hlsMoveRows: Row = {
  'hls-drain': (s) => {
    // One second session at a time: a WebRTC upgrade under way takes the viewer off this relay anyway.
    if (s.next.standby !== 'none') return;
    s.do({ do: 'place-hls-move' });
  },
  'hls-move-placed': (s, e) => {
    if (e.sameNode) {
      s.do({ do: 'warn', message: `relay draining (to ${e.target}) but no other relay to move HLS to` });
      return;
    }
    // Reported first: without a spare element the move is ready (and reports) at once.
    s.set({ standby: 'hls-move', hlsReload: false })
      .report(s.next.status, 'hls', `${s.next.hlsReason}; moving: relay draining`)
      .do({ do: 'open-hls-move' });
  },
  'hls-languages': (s) => {
    // hls.js read the multivariant playlist once: a second one on the same relay reads the new audio group,
    // swapped in once it plays in step, as a drain move. A move under way reads it anyway.
    if (s.next.standby !== 'none') return;
    s.set({ standby: 'hls-move', hlsReload: true })
      .report(s.next.status, 'hls', `${s.next.hlsReason}; reloading: commentary languages changed`)
      .do({ do: 'open-hls-move' });
  },
  'hls-move-ready': (s, e) => {
    if (s.next.standby !== 'hls-move') return;
    swap(s, 'moved', e.connected);
  },
};
