"""The shared focus timer on a live server: actions, phases on the clock, restarts, the lobby."""

from __future__ import annotations

from datetime import datetime

from publicrooms.clock import FakeClock
from publicrooms.settings import CleanupSettings, LimitSettings, RoomConfig, RoomTimerConfig
from tests.support.clients import wait_for
from tests.support.live import advance

ROOM = "/public-room/pomodoro"
ROOMS = [RoomConfig(id="pomodoro", name="Pomodoro Sprints", timer=RoomTimerConfig(starts_on=True)),
         RoomConfig(id="desk", name="Desk", timer=RoomTimerConfig(focus_min=50, break_min=10,
                                                                  long_break_after=2))]
# Hours pass on the clock here: nobody is swept as inactive or pinged meanwhile.
PATIENT = CleanupSettings(inactive_after_s=10**7, ping_idle_s=10**7, ping_interval_s=10**7,
                          shutdown_grace_s=1)


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def phases(client) -> list[tuple[str, str, int]]:  # noqa: ANN001
    return [(e["timer"]["phase"], e["timer"]["status"], e["timer"]["round"])
            for e in client.events["timer-changed"]]


async def seated(clients, server, name: str, room: str = "/public-room/desk"):  # noqa: ANN001, ANN201
    client = await clients(server.url, room).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack["success"], ack
    return client, ack


async def test_lobby_lists_each_rooms_timer_and_pomodoro_sprints_runs_from_the_start(
        server_factory, http) -> None:  # noqa: ANN001
    clock = FakeClock()
    server = server_factory(clock=clock)
    rooms = {room["id"]: room for room in (await http(server.url).get("/api/public/rooms")).json()}
    pomodoro = rooms["pomodoro"]["timer"]
    assert (pomodoro["phase"], pomodoro["status"], pomodoro["round"], pomodoro["rounds"]) == (
        "focus", "running", 1, 4)
    assert pomodoro["phaseMs"] == 25 * 60_000 and pomodoro["remainingMs"] == 25 * 60_000
    assert seconds(pomodoro["endsAt"]) - seconds(pomodoro["serverTime"]) == 25 * 60
    assert seconds(pomodoro["serverTime"]) == clock.time()
    others = [room["timer"] for room_id, room in rooms.items() if room_id != "pomodoro"]
    assert others and all(t["status"] == "stopped" and t["endsAt"] is None for t in others)
    assert all(room["camerasOn"] == 0 for room in rooms.values())


async def test_start_pause_skip_reach_everyone_with_who_did_it(server_factory, clients) -> None:  # noqa: ANN001
    clock = FakeClock()
    server = server_factory(clock=clock, rooms=ROOMS, cleanup=PATIENT)
    ada, joined = await seated(clients, server, "Ada")
    assert joined["timer"]["status"] == "stopped" and joined["timer"]["phaseMs"] == 50 * 60_000
    bo, _ = await seated(clients, server, "Bo")  # on another node, with three
    lobby = await clients(server.url, "/").connect()

    started = await ada.call("timer-start")
    assert started["success"] and started["timer"]["status"] == "running"
    for client in (ada, bo):
        heard = await wait_for(lambda c=client: c.events["timer-changed"], "start is heard")
        assert heard[0]["roomId"] == "desk"
        assert heard[0]["timer"]["by"]["displayName"] == "Ada"
        assert heard[0]["timer"]["action"] == "start"
    card = await wait_for(lambda: [e["room"] for e in lobby.events["room-updated"]
                                   if e["room"]["id"] == "desk"], "the lobby card follows")
    assert card[-1]["timer"]["status"] == "running"

    await advance(server, clock, 600)
    paused = await bo.call("timer-pause")
    assert paused["timer"]["remainingMs"] == 40 * 60_000
    await wait_for(lambda: len(ada.events["timer-changed"]) == 2, "Ada hears the pause")
    assert ada.events["timer-changed"][1]["timer"]["by"]["displayName"] == "Bo"
    skipped = await ada.call("timer-skip")
    assert (skipped["timer"]["phase"], skipped["timer"]["status"]) == ("break", "running")
    await wait_for(lambda: len(bo.events["timer-changed"]) == 3, "Bo hears the skip")
    assert phases(bo) == [("focus", "running", 1), ("focus", "paused", 1), ("break", "running", 1)]


async def test_phases_end_on_the_clock_and_every_member_hears_each(server_factory, clients) -> None:  # noqa: ANN001
    clock = FakeClock()
    server = server_factory(clock=clock, rooms=ROOMS, cleanup=PATIENT)
    ada, _ = await seated(clients, server, "Ada")
    bo, _ = await seated(clients, server, "Bo")
    await ada.call("timer-start")
    await wait_for(lambda: bo.events["timer-changed"], "the start is heard")
    # 50 / 10 with a long break (15) after two rounds.
    expected = [("focus", "running", 1)]
    for step, phase in ((50 * 60, ("break", "running", 1)), (10 * 60, ("focus", "running", 2)),
                        (50 * 60, ("long-break", "running", 2)),
                        (15 * 60, ("focus", "running", 1))):
        await advance(server, clock, step)
        expected.append(phase)
        for client in (ada, bo):
            await wait_for(lambda c=client: len(c.events["timer-changed"]) >= len(expected),
                           f"{phase} is heard")
        assert phases(ada) == expected and phases(bo) == expected
        last = bo.events["timer-changed"][-1]["timer"]
        assert last["action"] == "phase-end" and last["by"] is None
        assert seconds(last["endsAt"]) - seconds(last["serverTime"]) == last["remainingMs"] / 1000


async def test_timer_survives_a_restart(server_factory, clients, http) -> None:  # noqa: ANN001
    clock = FakeClock()
    first = server_factory(clock=clock, rooms=ROOMS, cleanup=PATIENT)
    ada, _ = await seated(clients, first, "Ada")
    await ada.call("timer-start")
    await advance(first, clock, 20 * 60)
    await ada.close()
    first.stop()

    # The same database (and, with three nodes, a fresh Redis prefix: only the database remembers).
    clock = FakeClock(start=clock.time())  # the stopped loops' sleepers stay with the old one
    second = server_factory(clock=clock, rooms=ROOMS, cleanup=PATIENT)
    rooms = {r["id"]: r for r in (await http(second.url).get("/api/public/rooms")).json()}
    assert (rooms["desk"]["timer"]["phase"], rooms["desk"]["timer"]["status"]) == ("focus",
                                                                                  "running")
    assert rooms["desk"]["timer"]["remainingMs"] == 30 * 60_000
    assert rooms["desk"]["timer"]["by"]["displayName"] == "Ada"
    bo, _ = await seated(clients, second, "Bo")
    await advance(second, clock, 30 * 60)
    changed = await wait_for(lambda: bo.events["timer-changed"], "the phase ends after the restart")
    assert (changed[0]["timer"]["phase"], changed[0]["timer"]["round"]) == ("break", 1)


async def test_timer_actions_are_rate_limited_and_need_a_seat(server_factory, clients) -> None:  # noqa: ANN001
    server = server_factory(rooms=ROOMS, limits=LimitSettings(timer_actions_per_minute=2))
    ada, _ = await seated(clients, server, "Ada")
    assert (await ada.call("timer-start"))["success"]
    assert (await ada.call("timer-pause"))["success"]
    refused = await ada.call("timer-skip")
    assert refused["error"]["code"] == "TIMER_LIMIT_EXCEEDED" and refused["error"]["retryAfter"]
    notice = await wait_for(lambda: ada.events["rate-limit-exceeded"], "the limit is told")
    assert notice[0]["action"] == "timer"
    watcher = await clients(server.url, "/public-room/desk").connect()
    assert (await watcher.call("timer-start"))["error"]["code"] == "NOT_IN_ROOM"
