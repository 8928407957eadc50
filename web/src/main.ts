// Boot and navigation: lobby at #/, a room at #/room/<id>.

import "./styles.css";
import { onStatus, type ConnectionStatus } from "./connection";
import { byId } from "./dom";
import { describeError } from "./errors";
import { JoinDialog } from "./join/joinDialog";
import { LobbyView, RoomDirectory } from "./lobby/lobby";
import { createMediaLink } from "./room/sfu";
import { RoomView } from "./room/roomView";
import type { RoomSession } from "./room/session";
import type { LocalMedia } from "./room/localMedia";
import { activeRoom, rememberedName } from "./storage";
import { h } from "./dom";
import type { ApiError, JoinSuccess } from "./types";

const main = byId("main");
const banner = byId("banner");
const directory = new RoomDirectory();
const lobby = new LobbyView(directory, (room) => {
  window.location.hash = `#/room/${encodeURIComponent(room.id)}`;
});
const dialog = new JoinDialog(directory, enterRoom);
document.body.append(dialog.el);
dialog.el.addEventListener("close", () => {
  // Closing the dialog without joining goes back to the lobby.
  if (!roomView) navigate("#/");
});

let roomView: RoomView | null = null;

function navigate(hash: string): void {
  if (window.location.hash !== hash) window.location.hash = hash;
  else route();
}

function roomIdFromHash(): string | null {
  const match = /^#\/room\/([^/]+)$/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function showBanner(text: string): void {
  banner.textContent = text;
  banner.hidden = !text;
}

function showLobby(): void {
  if (roomView) return;
  if (moved && roomIdFromHash()) return; // the "in another tab" screen stays until a choice
  if (!main.contains(lobby.el)) main.replaceChildren(lobby.el);
  document.title = "publicrooms · study together";
  directory.start();
  lobby.render();
}

function route(): void {
  const roomId = roomIdFromHash();
  if (!roomId) {
    if (roomView) void roomView.leave();
    if (dialog.isOpen) dialog.close();
    showLobby();
    return;
  }
  if (roomView) {
    // Switching rooms through the address bar: leaving re-runs this route.
    if (roomView.roomId !== roomId) void roomView.leave();
    return;
  }
  showLobby();
  const open = () => {
    const room = directory.get(roomId);
    if (!room) {
      if (directory.loaded) {
        showBanner(describeError({ code: "ROOM_NOT_FOUND", message: "" }));
        navigate("#/");
      }
      return false;
    }
    // After a reload in a room, go straight back in with the remembered name (this tab's own
    // seat: taken back without asking).
    const autoJoin = activeRoom.get() === roomId && !!rememberedName.get();
    if (!dialog.isOpen) dialog.open(room, { autoJoin, takeOver: autoJoin });
    return true;
  };
  if (!open()) {
    const unsubscribe = directory.subscribe(() => {
      if (roomIdFromHash() !== roomId || open() || directory.loaded) unsubscribe();
    });
  }
}

/** This tab's seat moved to another tab: say so, and offer to take it back here. */
function showMoved(roomId: string): void {
  const room = directory.get(roomId);
  const here = h("button", { type: "button", class: "btn btn-primary use-here" }, "Use it here");
  const lobbyButton = h("button", { type: "button", class: "btn btn-ghost" }, "Back to the lobby");
  const view = h(
    "section",
    { class: "moved", "aria-labelledby": "moved-title" },
    h("h1", { id: "moved-title" }, "You're no longer in this room here"),
    h("p", {}, `You opened ${room ? `“${room.name}”` : "this room"} in another tab or window, so this tab left it. Your seat stayed with the other tab.`),
    h("div", { class: "dialog-actions" }, lobbyButton, here),
  );
  here.addEventListener("click", () => {
    moved = null;
    const target = directory.get(roomId);
    showLobby();
    if (target) dialog.open(target, { autoJoin: !!rememberedName.get(), takeOver: true });
  });
  lobbyButton.addEventListener("click", () => {
    moved = null;
    navigate("#/");
  });
  moved = view;
  main.replaceChildren(view);
  document.title = "In another tab · publicrooms";
  here.focus();
}

let moved: HTMLElement | null = null;

function enterRoom(session: RoomSession, state: JoinSuccess, local: LocalMedia, want: { video: boolean; audio: boolean }): void {
  showBanner("");
  moved = null;
  directory.stop(); // the room namespace has everything the room view needs
  activeRoom.set(session.roomId);
  roomView = new RoomView(state, {
    session,
    local,
    want,
    createMedia: createMediaLink,
    onOccupancy: (roomId, currentOccupancy) => directory.update({ roomId, currentOccupancy }),
    onLeave: (reason?: ApiError) => {
      roomView = null;
      activeRoom.clear();
      document.body.classList.remove("in-room");
      if (reason?.code === "SEAT_MOVED") {
        // The devices stay with the other tab: don't turn them on again here by default.
        directory.start();
        showMoved(session.roomId);
        return;
      }
      if (reason) showBanner(`You left the room: ${describeError(reason)}`);
      showLobby();
      // Leaving through the address bar to another room goes on to that room's dialog.
      const next = roomIdFromHash();
      if (next && next !== session.roomId) route();
      else navigate("#/");
    },
  });
  main.replaceChildren(roomView.el);
  document.body.classList.add("in-room");
  window.scrollTo(0, 0);
  main.focus({ preventScroll: true });
}

function renderStatus(status: ConnectionStatus): void {
  const el = byId("connection-status");
  const text = byId("connection-text");
  el.dataset.state = status.state;
  const label: Record<ConnectionStatus["state"], string> = {
    connecting: "Connecting…",
    online: "Connected",
    reconnecting: status.attempt > 0 ? `Reconnecting… (attempt ${status.attempt})` : "Connection lost — reconnecting…",
    offline: "Offline — reload the page to try again",
  };
  text.textContent = status.detail && status.state !== "online" ? `${label[status.state]} ${status.detail}` : label[status.state];
  document.body.classList.toggle("is-disconnected", status.state === "reconnecting" || status.state === "offline");
}

onStatus(renderStatus);
window.addEventListener("hashchange", route);
// Closing the tab is a clean leave: release devices and close the namespace, so others see
// the seat free at once instead of after the server's reconnect grace.
window.addEventListener("pagehide", () => roomView?.closeForUnload());
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload(); // restored from the back/forward cache
});
banner.addEventListener("click", () => showBanner(""));
route();
