import { type Player, ReportRecorder, sendProblemReport } from '@matchmesh/client';
import { type FormEvent, useEffect, useRef, useState } from 'react';

type Status =
  | { kind: 'idle' }
  | { kind: 'sending' }
  | { kind: 'sent'; id: string }
  | { kind: 'error'; message: string };

/**
 * "Report a problem": the viewer's words plus the player's own figures of the
 * last minute (ReportRecorder), sent to the node the page came from (reports
 * are kept cluster-wide). Shows the report's id once sent, or why not.
 */
export function ReportProblem({
  player,
  stream,
  token,
}: {
  player: Player | null;
  stream: string;
  /** The session credential of the moment (it is renewed while the page is open). */
  token: () => string;
}) {
  const recorder = useRef<ReportRecorder | null>(null);
  const [open, setOpen] = useState(false);
  const [text, setText] = useState('');
  const [status, setStatus] = useState<Status>({ kind: 'idle' });

  // Recording starts with the player, so the last minute is there when the viewer presses the button.
  useEffect(() => {
    if (!player) return;
    const r = new ReportRecorder(player);
    r.start();
    recorder.current = r;
    return () => {
      r.stop();
      recorder.current = null;
    };
  }, [player]);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    const r = recorder.current;
    if (!player || !r || !text.trim()) return;
    setStatus({ kind: 'sending' });
    try {
      await r.sampleNow();
      const figures = r.figures();
      const last = figures.samples.at(-1);
      const id = await sendProblemReport(window.location.origin, token(), {
        stream,
        sessionId: player.sessionId,
        nodeId: last?.nodeId ?? player.session?.nodeId ?? 'none',
        region: last?.region ?? player.placement?.region ?? 'none',
        path: last?.path ?? player.path,
        text: text.trim(),
        figures,
      });
      setStatus({ kind: 'sent', id });
      setText('');
      setOpen(false);
    } catch (error) {
      setStatus({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  };

  return (
    <section className="report" data-testid="report">
      {open ? (
        <form onSubmit={(e) => void send(e)}>
          <label htmlFor="report-text">What went wrong?</label>
          <textarea
            id="report-text"
            data-testid="report-text"
            maxLength={2000}
            rows={4}
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="e.g. the picture froze for a few seconds"
          />
          <p className="muted">Sent with your player's figures of the last minute (no personal data).</p>
          <div className="report-actions">
            <button
              type="submit"
              data-testid="report-send"
              disabled={status.kind === 'sending' || !text.trim() || !player}
            >
              {status.kind === 'sending' ? 'Sending…' : 'Send'}
            </button>
            <button type="button" className="secondary" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <button
          type="button"
          data-testid="report-open"
          onClick={() => {
            setOpen(true);
            setStatus({ kind: 'idle' });
          }}
        >
          Report a problem
        </button>
      )}
      {status.kind === 'sent' ? (
        <p className="report-status" data-testid="report-status" data-report-id={status.id}>
          Sent — report {status.id}. Thank you.
        </p>
      ) : null}
      {status.kind === 'error' ? (
        <p className="report-status error" data-testid="report-status" role="alert">
          Not sent: {status.message}
        </p>
      ) : null}
    </section>
  );
}
