import {
  type CommentaryPublisher,
  speaking,
  TalkbackMutes,
  TalkbackPlayout,
  type TalkbackTrack,
} from '@matchmesh/client';
import { useCallback, useEffect, useRef, useState } from 'react';

/** One other commentator in the booth list: who, which language, muted here, speaking now. */
export type BoothMate = {
  consumerId: string;
  commentator: string;
  name: string | undefined;
  lang: string;
  muted: boolean;
  speaking: boolean;
};

export type TalkbackView = {
  mates: BoothMate[];
  toggleMute: (commentator: string) => void;
  /** Follow a publisher's talkback voices (from its first session on); returns the unsubscribe. */
  follow: (publisher: CommentaryPublisher) => () => void;
  /** What the page plays for talkback (tests measure it), null before the first voice. */
  output: () => MediaStreamTrack | null;
  /** The audio elements playing talkback: whose voice, muted, paused. */
  playing: () => { commentator: string; muted: boolean; paused: boolean }[];
};

/** How often the speaking lights are read (ms): fast enough to follow a conversation, cheap on React. */
const SPEAKING_POLL_MS = 200;

/**
 * The booth's talkback in the page: the other commentators' voices played through a TalkbackPlayout
 * (separate from the match sound), their per-person mutes remembered for the tab's session, and a speaking
 * light per person.
 */
export function useTalkback(stream: string): TalkbackView {
  const mutesRef = useRef<TalkbackMutes | null>(null);
  mutesRef.current ??= new TalkbackMutes(stream, safeSessionStorage());
  const playoutRef = useRef<TalkbackPlayout | null>(null);
  const [voices, setVoices] = useState<TalkbackTrack[]>([]);
  const [muted, setMuted] = useState<ReadonlySet<string>>(() => new Set(mutesRef.current!.muted));
  const [levels, setLevels] = useState<Map<string, number>>(new Map());

  const playout = useCallback(() => {
    playoutRef.current ??= new TalkbackPlayout(mutesRef.current!.muted);
    return playoutRef.current;
  }, []);

  const follow = useCallback(
    (publisher: CommentaryPublisher) => {
      const apply = (next: TalkbackTrack[]) => {
        setVoices(next);
        if (next.length > 0 || playoutRef.current) playout().setVoices(next);
      };
      apply(publisher.talkback);
      return publisher.on('talkback', apply);
    },
    [playout],
  );

  const toggleMute = useCallback((commentator: string) => {
    const mutes = mutesRef.current!;
    const now = mutes.toggle(commentator);
    playoutRef.current?.setMuted(commentator, now);
    setMuted(new Set(mutes.muted));
  }, []);

  useEffect(() => {
    if (voices.length === 0) return;
    const timer = setInterval(() => {
      if (playoutRef.current) setLevels(playoutRef.current.levels());
    }, SPEAKING_POLL_MS);
    return () => clearInterval(timer);
  }, [voices.length]);

  useEffect(() => () => playoutRef.current?.close(), []);

  const mates = voices.map((v) => ({
    consumerId: v.consumerId,
    commentator: v.commentator,
    name: v.name,
    lang: v.lang,
    muted: muted.has(v.commentator),
    speaking: speaking(levels.get(v.consumerId) ?? -100),
  }));
  return {
    mates,
    toggleMute,
    follow,
    output: () => playoutRef.current?.output ?? null,
    playing: () => playoutRef.current?.playing() ?? [],
  };
}

function safeSessionStorage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}
