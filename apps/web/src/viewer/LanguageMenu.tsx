import type { Player, SoundMix } from '@matchmesh/client';
import { languageName } from '@matchmesh/protocol';
import { useEffect, useState } from 'react';
import { BalanceControl } from './BalanceControl.tsx';

const STORAGE_KEY = 'matchmesh.language';
/** The menu's value for "venue sound only". */
const VENUE = 'venue';

/** The remembered choice: a language tag, null for venue only, undefined: never chosen (the stream's default). */
function remembered(): string | null | undefined {
  const v = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (v === null || v === undefined) return undefined;
  return v === VENUE ? null : v;
}

/**
 * The commentary menu: each language on air (by its own name) and "Venue
 * sound only". On WebRTC the node sends the chosen language's track alone; on
 * HLS hls.js plays that audio rendition (a language that comes on air later is
 * added when the player reloads HLS). The
 * choice is remembered across visits and kept by every session of the player.
 * With a language heard, the commentary/venue balance beside it. Hidden while
 * no commentary is on air.
 */
export function LanguageMenu({ player, mix }: { player: Player | null; mix: SoundMix | null }) {
  const [languages, setLanguages] = useState<string[]>([]);
  const [chosen, setChosen] = useState<string>(VENUE);
  const [onHls, setOnHls] = useState(false);

  useEffect(() => {
    if (!player) return;
    const wanted = remembered();
    if (wanted !== undefined) void player.setLanguage(wanted).catch(() => undefined);
    const refresh = () => {
      setLanguages(player.languages);
      setChosen(player.language ?? VENUE);
      setOnHls(player.path === 'hls');
    };
    refresh();
    player.on('media', refresh);
    player.on('state', refresh);
    return () => {
      player.off('media', refresh);
      player.off('state', refresh);
    };
  }, [player]);

  if (!player || languages.length === 0) return null;
  const choose = (value: string) => {
    const lang = value === VENUE ? null : value;
    globalThis.localStorage?.setItem(STORAGE_KEY, value);
    setChosen(value);
    void player
      .setLanguage(lang)
      .then(() => setChosen(player.language ?? VENUE))
      .catch(() => undefined);
  };
  return (
    <>
      <label className="language-menu">
        <span>Commentary</span>
        <select data-testid="language" value={chosen} onChange={(e) => choose(e.target.value)}>
          {languages.map((l) => (
            <option key={l} value={l}>
              {languageName(l)}
            </option>
          ))}
          <option value={VENUE}>Venue sound only</option>
        </select>
      </label>
      {mix && chosen !== VENUE ? <BalanceControl mix={mix} onHls={onHls} /> : null}
    </>
  );
}
