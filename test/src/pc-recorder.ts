import type { Page } from 'playwright-core';

/**
 * Records, from before the page's own scripts run, every RTCPeerConnection
 * the page creates and every state it goes through, and marks the document
 * so a reload shows. This is the viewer's side of "no transport closed, no
 * consumer closed, no resubscribe, no reload" seen through the browser's own
 * WebRTC objects, whatever the player does underneath.
 */
export async function recordPeerConnections(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as {
      __pcs?: { states: string[]; pc: RTCPeerConnection }[];
      __loads?: number;
    };
    const loads = Number(sessionStorage.getItem('__mmLoads') ?? '0') + 1;
    sessionStorage.setItem('__mmLoads', String(loads));
    w.__loads = loads;
    w.__pcs = [];
    const Native = window.RTCPeerConnection;
    class Recorded extends Native {
      constructor(config?: RTCConfiguration) {
        super(config);
        const entry = { states: ['new'], pc: this as RTCPeerConnection };
        w.__pcs!.push(entry);
        this.addEventListener('connectionstatechange', () => entry.states.push(this.connectionState));
      }
    }
    Object.defineProperty(window, 'RTCPeerConnection', { value: Recorded, writable: true, configurable: true });
  });
}

export interface PeerConnectionReport {
  /** How many times the document was loaded in this tab. */
  loads: number;
  pcs: {
    states: string[];
    /** Transceivers still receiving media (a closed consumer's transceiver goes inactive / stopped). */
    receiving: number;
    transceivers: number;
    liveTracks: number;
  }[];
}

export async function peerConnectionReport(page: Page): Promise<PeerConnectionReport> {
  return page.evaluate(() => {
    const w = window as unknown as {
      __pcs?: { states: string[]; pc: RTCPeerConnection }[];
      __loads?: number;
    };
    return {
      loads: w.__loads ?? 0,
      pcs: (w.__pcs ?? []).map(({ states, pc }) => {
        const transceivers = pc.getTransceivers();
        return {
          states: [...states],
          transceivers: transceivers.length,
          receiving: transceivers.filter((t) => t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv')
            .length,
          liveTracks: transceivers.filter((t) => t.receiver.track.readyState === 'live').length,
        };
      }),
    };
  });
}
