import type { BoothMate } from './useTalkback.ts';

/**
 * "Booth": the other commentators on air (talkback), each with a speaking light and a mute of their own.
 * Their voices play through the page, apart from the match sound; they never go back on air while the
 * microphone's echo cancellation is on (the default; with `&raw=1` wear headphones).
 */
export function BoothTalkback(props: {
  seated: boolean;
  /** `&raw=1`: the microphone has no echo cancellation, so talkback from the speakers would go on air. */
  raw: boolean;
  mates: BoothMate[];
  onToggle: (commentator: string) => void;
}) {
  return (
    <section className="booth-talkback" data-testid="talkback" aria-label="Booth">
      <h2>Booth</h2>
      {props.raw ? (
        <p className="booth-error" data-testid="talkback-headphones">
          Raw microphone (no echo cancellation): wear headphones, or the other commentators go back on air.
        </p>
      ) : null}
      {props.mates.length === 0 ? (
        <p className="muted">
          {props.seated ? 'No other commentator on air.' : 'Go on air to hear the other commentators.'}
        </p>
      ) : (
        <ul>
          {props.mates.map((m) => (
            <li
              key={m.consumerId}
              data-testid="talkback-mate"
              data-commentator={m.commentator}
              data-lang={m.lang}
              data-speaking={m.speaking}
              data-muted={m.muted}
            >
              <span className={`speaking-light${m.speaking ? ' on' : ''}`} aria-hidden="true" />{' '}
              <span title={m.commentator}>{m.name ?? `Commentator ${m.commentator.slice(-6)}`}</span>{' '}
              <span className="muted">({m.lang})</span>{' '}
              <button
                type="button"
                data-testid="talkback-mute"
                aria-pressed={m.muted}
                onClick={() => props.onToggle(m.commentator)}
              >
                {m.muted ? 'Unmute' : 'Mute'}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
