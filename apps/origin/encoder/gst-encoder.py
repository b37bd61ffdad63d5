#!/usr/bin/python3
"""The origin agent's video encoder that honours "key frame now" (issue 20).

ffmpeg's CLI cannot force a key frame while it runs, so the agent lets ffmpeg
draw or decode the picture (test pattern with its burned-in clock, files,
RTMP, SRT: everything it did before) and write raw I420 frames to this
process's fd 3; GStreamer encodes them with x264 (one branch per ladder
layer, after a tee) and sends RTP to the agent's loopback ports.

Usage: gst-encoder.py '<gst-launch pipeline>' <layers>
  The pipeline (built by apps/origin/src/gst-pipeline.ts) reads fd 3, names
  the raw frames' element "raw" and each layer's encoder "enc0", "enc1"...
stdin: one line "k" per key-frame request from the agent.
stdout: one JSON line per event: {"ev":"ready"}, {"ev":"key","layer":i,"forced":bool,"t":<wall clock ms>}.
"""

import fcntl
import json
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402


def say(event, **fields):
    sys.stdout.write(json.dumps({"ev": event, **fields}) + "\n")
    sys.stdout.flush()


class Encoder:
    def __init__(self, description, layers):
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.parse_launch(description)
        self.encoders = [self.pipeline.get_by_name(f"enc{i}") for i in range(layers)]
        self.wanted = threading.Event()
        # Per layer: the timestamp of the source frame a key frame was forced on, until it comes out.
        self.forced_at = [None] * layers
        raw = self.pipeline.get_by_name("raw").get_static_pad("src")
        raw.add_probe(Gst.PadProbeType.BUFFER, self.on_raw_frame)
        for i, enc in enumerate(self.encoders):
            enc.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.on_encoded, i)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)
        bus.connect("message::eos", lambda *_: self.loop.quit())

    def on_raw_frame(self, pad, info):
        # Before the tee hands this frame to any branch. Each layer encodes in
        # its own thread (a queue per branch), so an encoder may still be a
        # frame or two behind: the request names this frame's running time,
        # and each encoder forces the first frame at or after it — the same
        # source frame in every layer (a capped layer that drops it: its next).
        if self.wanted.is_set():
            self.wanted.clear()
            buf = info.get_buffer()
            event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
            running = (
                event.parse_segment().to_running_time(Gst.Format.TIME, buf.pts) if event else buf.pts
            )
            for i, enc in enumerate(self.encoders):
                self.forced_at[i] = buf.pts
                enc.send_event(GstVideo.video_event_new_upstream_force_key_unit(running, True, 0))
        return Gst.PadProbeReturn.OK

    def on_encoded(self, _pad, info, layer):
        buf = info.get_buffer()
        if not buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
            at = self.forced_at[layer]
            # A periodic key frame still on its way out of a queue is not the forced one.
            forced = at is not None and buf.pts >= at
            if forced:
                self.forced_at[layer] = None
            # Stamped here, in the streaming thread as the frame leaves x264: the agent reads it later.
            say("key", layer=layer, forced=forced, t=round(time.time() * 1000))
        return Gst.PadProbeReturn.OK

    def on_error(self, _bus, message):
        err, debug = message.parse_error()
        sys.stderr.write(f"gst error: {err.message} ({debug})\n")
        self.loop.quit()

    def read_commands(self):
        for line in sys.stdin:
            if line.strip() == "k":
                self.wanted.set()
        # The agent went away: stop.
        GLib.idle_add(self.loop.quit)

    def run(self):
        self.pipeline.set_state(Gst.State.PLAYING)
        threading.Thread(target=self.read_commands, daemon=True).start()
        say("ready")
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)


# fcntl's F_SETPIPE_SZ (Linux; Python names it only from 3.10 on).
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def widen_frame_pipe(fd=3):
    """Raise fd 3's pipe from 64 KiB to the system's most (1 MiB by default).

    ffmpeg writes each raw frame (1.4 MB at 720p) into it, and while a write
    waits ffmpeg sends nothing else, its audio included: with 64 KiB a frame
    takes ~22 hand-overs between the two processes, each a scheduling wait on
    a loaded machine; with 1 MiB it takes two.
    """
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            most = int(f.read())
        fcntl.fcntl(fd, F_SETPIPE_SZ, most)
    except (OSError, ValueError) as err:
        sys.stderr.write(f"frame pipe left at its default size: {err}\n")


def main():
    Gst.init(None)
    widen_frame_pipe()
    Encoder(sys.argv[1], int(sys.argv[2])).run()


if __name__ == "__main__":
    main()
