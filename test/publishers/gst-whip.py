#!/usr/bin/python3
"""A GStreamer WHIP publisher from Debian packages, as a broadcaster would run one.

webrtcbin publishes videotestsrc -> x264enc (Constrained Baseline, zerolatency,
a keyframe every second) -> rtph264pay and audiotestsrc -> opusenc ->
rtpopuspay. The script does the WHIP POST itself: one offer after ICE
gathering (no trickle), the answer applied. It prints one JSON line per state
change on stdout ({"state": "posted" | "connected" | "failed", ...}) so a test
can wait for it, and stops on SIGTERM with a WHIP DELETE.

Usage: gst-whip.py WHIP_URL   (the publisher token in the WHIP_TOKEN env var)
"""

import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

PIPELINE = """
webrtcbin name=pub bundle-policy=max-bundle
videotestsrc is-live=true pattern=ball
  ! video/x-raw,width=640,height=360,framerate=30/1
  ! videoconvert
  ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max=30
  ! video/x-h264,profile=constrained-baseline
  ! rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=96
  ! application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000
  ! pub.
audiotestsrc is-live=true wave=sine
  ! audioconvert ! audioresample
  ! opusenc bitrate=64000
  ! rtpopuspay pt=111
  ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000
  ! pub.
"""

def say(state, **fields):
    print(json.dumps({"state": state, **fields}), flush=True)


class WhipPublisher:
    def __init__(self, url, token):
        self.url = url
        self.token = token
        self.session_url = None
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.parse_launch(PIPELINE)
        self.webrtc = self.pipeline.get_by_name("pub")
        # Caps on the transceivers before the pads link: the offer carries them.
        # PIPELINE links video first (sink_0), then audio (sink_1).
        for name in ("sink_0", "sink_1"):
            transceiver = self.webrtc.get_static_pad(name).get_property("transceiver")
            transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering_state)
        self.webrtc.connect("notify::ice-connection-state", self.on_connection_state)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)

    def on_negotiation_needed(self, _element):
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer_created(self, promise, _data):
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None else None
        if offer is None:
            say("failed", detail=f"create-offer: {reply.to_string() if reply is not None else 'no reply'}")
            GLib.idle_add(self.loop.quit)
            return
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_gathering_state(self, element, _pspec):
        # No trickle: the offer goes out once, with every candidate in it.
        if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(self.post_offer)

    def post_offer(self):
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        print(sdp, file=sys.stderr, flush=True)  # In the test's failure message when something goes wrong.
        request = urllib.request.Request(
            self.url,
            data=sdp.encode(),
            method="POST",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
                answer_text = response.read().decode()
                self.session_url = urllib.parse.urljoin(self.url, response.headers["Location"])
        except urllib.error.HTTPError as err:
            say("failed", status=err.code, detail=err.read().decode())
            self.loop.quit()
            return False
        except (urllib.error.URLError, OSError) as err:
            say("failed", detail=f"WHIP POST: {err}")
            self.loop.quit()
            return False
        say("posted", status=status, session=self.session_url)
        _, sdp_message = GstSdp.SDPMessage.new_from_text(answer_text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp_message)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        return False

    def on_connection_state(self, element, _pspec):
        state = element.get_property("ice-connection-state")
        if state in (GstWebRTC.WebRTCICEConnectionState.CONNECTED, GstWebRTC.WebRTCICEConnectionState.COMPLETED):
            say("connected")
        elif state == GstWebRTC.WebRTCICEConnectionState.FAILED:
            say("failed", detail="ICE failed")
            self.loop.quit()

    def on_error(self, _bus, message):
        err, debug = message.parse_error()
        say("failed", detail=f"{err.message} ({debug})")
        self.loop.quit()

    def stop(self):
        if self.session_url:
            try:
                request = urllib.request.Request(
                    self.session_url, method="DELETE", headers={"Authorization": f"Bearer {self.token}"}
                )
                urllib.request.urlopen(request, timeout=5).close()
            except (urllib.error.URLError, OSError):
                pass  # The node may be gone first; its session ends with ours either way.
        self.loop.quit()
        return False

    def run(self):
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.stop)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.stop)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)


def main():
    if len(sys.argv) != 2 or not os.environ.get("WHIP_TOKEN"):
        print("usage: WHIP_TOKEN=... gst-whip.py WHIP_URL", file=sys.stderr)
        return 2
    Gst.init(None)
    WhipPublisher(sys.argv[1], os.environ["WHIP_TOKEN"]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
