import type { ReceivedScore } from '@matchmesh/client';
import type { PlayerScore } from '@matchmesh/protocol';

/** The TV-style score bug drawn over the video. */
export function ScoreBug({ score }: { score: ReceivedScore }) {
  const { players, frame, raceTo, atTable, event } = score.score;
  return (
    <div
      className="bug"
      data-testid="score"
      data-seq={score.seq}
      data-snapshot={score.snapshot ? 'true' : 'false'}
      data-frame={frame}
      data-at-table={atTable}
      aria-live="polite"
    >
      <div className="bug-head">
        <span>Frame {frame}</span>
        <span className="bug-race">Race to {raceTo}</span>
      </div>
      <PlayerRow player={players[0]} index={0} atTable={atTable === 0} />
      <PlayerRow player={players[1]} index={1} atTable={atTable === 1} />
      {event ? (
        <div className="bug-event" key={score.seq}>
          {event}
        </div>
      ) : null}
    </div>
  );
}

function PlayerRow({ player, index, atTable }: { player: PlayerScore; index: number; atTable: boolean }) {
  return (
    <div className={atTable ? 'bug-row at-table' : 'bug-row'} data-player={index}>
      <span className="bug-turn" title={atTable ? 'At the table' : undefined} />
      <span className="bug-name">{player.name}</span>
      {/* Keyed by value so the flash animation replays on every change. */}
      <span className="bug-frames" key={`f${player.frames}`} data-frames={player.frames}>
        {player.frames}
      </span>
      <span className="bug-points" key={`p${player.points}`} data-points={player.points}>
        {player.points}
      </span>
    </div>
  );
}
