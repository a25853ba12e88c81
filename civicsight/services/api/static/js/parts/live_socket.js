// The control room's one WebSocket (/api/live/ws): annotated frames for the tiles it
// watches, the event feed and service health. Reconnects with a growing delay when the
// connection drops; a closed session (4401) or a role without live tiles (4403) ends it.

import { bearer } from "../api.js";

export class LiveSocket {
  /**
   * handlers: onFrame(header, blob), onFeed(message), onHealth(message), onState(text, ok),
   * onEnd(code, reason) when the hub refuses the session for good.
   */
  constructor(handlers) {
    this.h = handlers;
    this.watching = {};
    this.cursor = null;
    this.delay = 1000;
    this.closed = false;
    this.ws = null;
    this.timer = null;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + window.location.host + "/api/live/ws");
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      const token = bearer();
      if (token) ws.send(JSON.stringify({ type: "auth", token }));
      this.h.onState("connecting…", true);
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") this.text(JSON.parse(event.data));
      else this.frame(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === 4401 || event.code === 4403) {
        this.closed = true;
        this.h.onEnd(event.code, event.reason);
        return;
      }
      if (this.closed) return;
      this.h.onState("reconnecting in " + Math.round(this.delay / 1000) + " s…", false);
      this.timer = window.setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    };
  }

  text(msg) {
    if (msg.type === "hello") {
      this.delay = 1000;
      this.h.onState("live", true);
      if (this.cursor !== null) this.send({ type: "events", after: this.cursor });
      else this.cursor = msg.cursor;
      this.send({ type: "watch", cameras: this.watching });
    } else if (msg.type === "feed") {
      this.cursor = msg.cursor;
      this.h.onFeed(msg);
    } else if (msg.type === "health") {
      this.h.onHealth(msg);
    } else if (msg.type === "error") {
      this.h.onState(msg.detail, false);
    }
  }

  frame(buffer) {
    const view = new DataView(buffer);
    const length = view.getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
    const blob = new Blob([new Uint8Array(buffer, 4 + length)], { type: "image/jpeg" });
    this.h.onFrame(header, blob);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** cameras: {cameraId: fps} */
  watch(cameras) {
    this.watching = cameras;
    this.send({ type: "watch", cameras });
  }

  close() {
    this.closed = true;
    window.clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "page closed");
    this.ws = null;
  }
}
