import type { OnAirLight } from '@matchmesh/client';

/** The on-air light: red while the voice goes out, amber on air with push-to-talk up, grey off air. */
export function OnAirLamp({ light }: { light: OnAirLight }) {
  const label = light === 'on-air' ? 'ON AIR' : light === 'standby' ? 'ON AIR · MIC CLOSED' : 'OFF AIR';
  return (
    <span className={`on-air-light ${light}`} data-testid="on-air-light" data-light={light} role="status">
      {label}
    </span>
  );
}

/** The microphone list, and its level (−60…0 dBFS) read from the microphone itself. */
export function MicrophonePicker(props: {
  devices: MediaDeviceInfo[];
  deviceId: string;
  levelDb: number;
  onPick: (deviceId: string) => void;
}) {
  return (
    <label className="booth-row">
      Microphone{' '}
      <select data-testid="mic-select" value={props.deviceId} onChange={(e) => props.onPick(e.target.value)}>
        {props.deviceId === '' ? <option value="">(default)</option> : null}
        {props.devices.map((d, i) => (
          <option key={d.deviceId || i} value={d.deviceId}>
            {d.label || `Microphone ${i + 1}`}
          </option>
        ))}
      </select>{' '}
      <meter
        data-testid="mic-level"
        min={-60}
        max={0}
        low={-30}
        high={-6}
        optimum={-18}
        value={Math.max(-60, props.levelDb)}
      />{' '}
      <span className="muted">{props.levelDb <= -100 ? '—' : `${Math.round(props.levelDb)} dB`}</span>
    </label>
  );
}

/** How far behind the match the commentator watches: measured on the booth's own WebRTC session. */
export function ViewDelay({ rttMs, playoutMs }: { rttMs: number | null; playoutMs: number | null }) {
  const fmt = (ms: number | null) => (ms === null ? '…' : `${Math.round(ms)} ms`);
  return (
    <span className="booth-row" data-testid="view-delay">
      Watching from this node · round trip {fmt(rttMs)} · playout buffer {fmt(playoutMs)}
    </span>
  );
}
