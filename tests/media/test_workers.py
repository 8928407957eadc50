"""Worker processes: crash recovery, room placement, start-up self-test."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from publicrooms.media import aiortc_adapter
from publicrooms.media.errors import AdapterMismatch
from publicrooms.media.service import MediaService

from .conftest import assert_released, join, media_settings
from .mediaclient import EventRouter, poll

pytestmark = pytest.mark.media


async def test_killed_worker_recovers(service, router):
    room = "room-crash"
    alice, bob = join(service, router, room, "alice"), join(service, router, room, "bob")
    await alice.publish()
    await bob.subscribe()
    await poll(lambda: bob.video.get("alice") and bob.video["alice"].count >= 10, 20, "video before the crash")
    victim = service.worker_of(room)
    assert victim is not None

    os.kill(victim, signal.SIGKILL)
    await poll(lambda: ("media-reconnect" in [e for e, _ in bob.events]), 10, "no media-reconnect event")
    assert (room, "media-reconnect", {"reason": "media-worker-restarted"}) in router.room_events
    assert service.room_media(room) == []
    await poll(lambda: service.worker_pids() and victim not in service.worker_pids(), 30, "no replacement worker")

    # what a client does on media-reconnect: drop its connections and start over
    for person in (alice, bob):
        await person.close(tell_service=False)
    alice2, bob2 = join(service, router, room, "alice"), join(service, router, room, "bob")
    await alice2.publish()
    await bob2.subscribe()
    await poll(lambda: bob2.video.get("alice") and bob2.video["alice"].count >= 10, 20, "video after recovery")
    assert service.worker_of(room) not in (None, victim)
    assert (await service.stats())["workersRestarted"] == 1

    await alice2.close()
    await bob2.close()
    await assert_released(service)


async def test_rooms_spread_over_workers():
    router = EventRouter()
    service = MediaService(media_settings(workers=2), on_event=router)
    await service.start()
    try:
        assert len(service.worker_pids()) == 2
        a, b = join(service, router, "room-a", "ann"), join(service, router, "room-b", "ben")
        await a.publish(video=False)
        await b.publish(video=False)
        assert service.worker_of("room-a") != service.worker_of("room-b")
        await a.close()
        await b.close()
        await assert_released(service)
    finally:
        await service.stop()
    assert service.worker_pids() == []


async def test_self_test_fails_loudly_when_an_internal_moved(monkeypatch):
    from aiortc.rtcrtpsender import RTCRtpSender

    monkeypatch.delattr(RTCRtpSender, "_run_rtcp")
    with pytest.raises(AdapterMismatch, match="_run_rtcp"):
        await aiortc_adapter.self_test()


async def test_empty_room_frees_worker_resources(service, router):
    alice = join(service, router, "room-empty", "alice")
    await alice.publish(video=False)
    assert (await service.stats())["rooms"] == 1
    await alice.close()
    assert (await service.stats())["rooms"] == 0
    await assert_released(service)


async def test_bad_requests_raise_media_errors(service, router):
    from publicrooms.media.errors import InvalidSdp, NotSubscribed, StaleAnswer

    with pytest.raises(InvalidSdp):
        await service.publish("room-bad", "mallory", "not sdp at all")
    with pytest.raises(InvalidSdp):
        await service.publish("room-bad", "mallory", "v=0\r\n" + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n" * 50)
    with pytest.raises(NotSubscribed):
        await service.subscriber_answer("room-bad", "mallory", "v=0\r\n", 1)

    alice, bob = join(service, router, "room-bad", "alice"), join(service, router, "room-bad", "bob")
    await alice.publish(video=False)
    offer = await service.subscribe("room-bad", "bob")
    assert offer is not None and offer["tracks"][0]["participantId"] == "alice"
    with pytest.raises(StaleAnswer):
        await service.subscriber_answer("room-bad", "bob", offer["sdp"], offer["offerId"] + 1)
    with pytest.raises(InvalidSdp):
        await service.subscriber_answer("room-bad", "bob", "v=0\r\nnonsense", offer["offerId"])
    for pid in ("mallory", "alice", "bob"):
        await service.close_participant("room-bad", pid)
    await alice.close(tell_service=False)
    await assert_released(service)


async def test_hung_worker_is_killed_and_replaced():
    router = EventRouter()
    service = MediaService(media_settings(worker_ping_interval_s=0.3, worker_ping_timeout_s=1.0), on_event=router)
    await service.start()
    try:
        alice = join(service, router, "room-hang", "alice")
        await alice.publish(video=False)
        victim = service.worker_of("room-hang")
        os.kill(victim, signal.SIGSTOP)  # alive but frozen, like an endless loop
        await poll(lambda: ("room-hang", "media-reconnect", {"reason": "media-worker-restarted"}) in router.room_events,
                   15, "a frozen worker was not detected")
        await poll(lambda: service.worker_pids() and victim not in service.worker_pids(), 30, "no replacement")
        await alice.close(tell_service=False)
        alice = join(service, router, "room-hang", "alice")
        await alice.publish(video=False)
        assert service.worker_of("room-hang") != victim
        await alice.close()
        await assert_released(service)
    finally:
        await service.stop()


def _exit_reports() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "WorkerProcess._report_exit"]


async def test_stopping_right_after_a_worker_died_leaves_no_task_running(caplog):
    service = MediaService(media_settings(), on_event=EventRouter())
    await service.start()
    try:
        victim = service.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        await poll(lambda: service.workers_restarted == 1, 10, "the death was not noticed")
    finally:
        await service.stop()
    assert _exit_reports() == []  # the death's report was waited for, not left behind
    assert f"(pid {victim}) died, exit code -9" in caplog.text


async def test_a_worker_dying_as_the_loop_ends_leaves_no_unhandled_error():
    """The loop's executor already shut down (asyncio.run's last steps) when a worker dies:
    reporting the death must not fail with 'cannot schedule new futures after shutdown'."""
    from publicrooms.media.workerprocess import WorkerProcess

    process = WorkerProcess(0, media_settings(), on_event=lambda *_: None, on_exit=lambda _: None)
    await process.start()
    await asyncio.get_running_loop().shutdown_default_executor()
    os.kill(process.pid, signal.SIGKILL)
    await poll(lambda: process.exit_report is not None, 10, "the death was not noticed")
    await process.exit_report  # finishes without an exception
    process.process.join(5)
