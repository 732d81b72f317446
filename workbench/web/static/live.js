// The live socket: resumes from the last event id it saw, so a reconnect misses nothing.
import { socketRefused, token } from "./api.js";

export function connectLive({ lastId, onMessages, onState }) {
  let cursor = lastId;
  let socket;
  let retry = 500;
  let closed = false;

  function open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams();
    if (cursor !== null && cursor !== undefined) query.set("after", cursor);
    if (token()) query.set("token", token());
    const opened = performance.now();
    socket = new WebSocket(`${scheme}://${location.host}/api/workbench/live?${query}`);
    socket.onopen = () => { retry = 500; onState("live"); };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      cursor = frame.last_id;
      if (frame.messages.length) onMessages(frame.messages);
    };
    socket.onclose = (event) => {
      if (closed) return;
      if (event.code === 4401) socketRefused(opened);  // with accounts on: back to the sign-in screen
      onState("down");
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 5000);
    };
  }
  open();
  return {
    get lastId() { return cursor; },
    setCursor(id) { if (cursor === null || cursor === undefined || id > cursor) cursor = id; },
    close() { closed = true; socket.close(); },
  };
}
