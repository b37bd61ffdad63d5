import type { SoundMix } from '@matchmesh/client';
import { useEffect, useState } from 'react';
import { rememberBalance } from './useSoundMix.ts';

/**
 * Commentary ↔ venue balance (remembered like the language). WebRTC only: it
 * sets the gains of the commentary track and of the venue sound in the page's
 * SoundMix. On HLS each language's audio rendition is the venue and the
 * commentary premixed into one AAC track, so there is nothing to balance: the
 * slider is disabled there and says so.
 */
export function BalanceControl({ mix, onHls }: { mix: SoundMix; onHls: boolean }) {
  const [balance, setBalance] = useState(mix.balance);
  useEffect(() => setBalance(mix.balance), [mix]);
  const move = (value: number) => {
    setBalance(value);
    mix.setBalance(value);
    rememberBalance(value);
  };
  return (
    <label
      className="balance"
      title={onHls ? 'On HLS the commentary comes premixed with the venue sound: the balance applies on WebRTC' : ''}
    >
      <span>Venue</span>
      <input
        data-testid="balance"
        type="range"
        min={-1}
        max={1}
        step={0.1}
        value={balance}
        disabled={onHls}
        aria-label="Commentary and venue balance"
        onChange={(e) => move(Number(e.target.value))}
      />
      <span>Commentary</span>
    </label>
  );
}
