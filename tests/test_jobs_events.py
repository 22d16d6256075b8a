"""Event delivery on SQLite (polling) and PostgreSQL (LISTEN/NOTIFY): each listener gets its
owner's events, resumes without gaps or repeats, and a listener that falls behind is dropped."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from ltxserve.database import open_database
from ltxserve.jobs.events import EventHub, SubscriberOverflowError
from ltxserve.jobs.store import Event, JobStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[EventHub]:
    hub = EventHub(JobStore(open_database(database_url)), poll_seconds=0.02, queue_size=50)
    await hub.start()
    yield hub
    await hub.stop()


async def enqueue(hub: EventHub, owner: str, count: int = 1) -> list[str]:
    return await asyncio.to_thread(hub.store.enqueue, owner, "oxen", "ltx-2-3-pro", {}, {}, count=count)


async def collect(stream: AsyncIterator[list[Event]], count: int) -> list[Event]:
    """The next `count` events, however they are batched."""
    got: list[Event] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            got += await anext(stream)
    assert len(got) == count, "no more than asked for"
    return got


async def test_a_listener_gets_its_owners_events_and_no_one_elses(hub: EventHub) -> None:
    with hub.subscribe("alice") as alice, hub.subscribe(None) as everyone:
        await enqueue(hub, "bob")
        (mine,) = await enqueue(hub, "alice")
        async with asyncio.timeout(10):
            event = await alice.next()
            seen = [await everyone.next(), await everyone.next()]
        assert (event.job_id, event.type, event.owner) == (mine, "queued", "alice")
        assert {e.owner for e in seen} == {"alice", "bob"}
        assert alice.queue.empty()


async def test_every_listener_gets_every_event(hub: EventHub) -> None:
    listeners = [hub.stream("alice") for _ in range(30)]
    firsts = [asyncio.ensure_future(anext(stream)) for stream in listeners]
    await asyncio.sleep(0.1)  # every generator subscribed
    ids = await enqueue(hub, "alice", count=5)
    for first, stream in zip(firsts, listeners, strict=True):
        batch = await first
        got = [*batch, *await collect(stream, 5 - len(batch))]
        assert [event.job_id for event in got] == ids


async def test_resuming_replays_what_was_missed_then_continues_live_without_repeats(hub: EventHub) -> None:
    first, *missed = await enqueue(hub, "alice", count=4)
    seen = (await asyncio.to_thread(hub.store.events_after, 0, owner="alice"))[0]
    assert seen.job_id == first
    stream = hub.stream("alice", after=seen.seq)
    replayed = await collect(stream, 3)
    assert [event.job_id for event in replayed] == missed
    (live,) = await enqueue(hub, "alice")
    (next_event,) = await collect(stream, 1)
    assert next_event.job_id == live
    seqs = [event.seq for event in [*replayed, next_event]]
    assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)


async def test_a_listener_that_falls_too_far_behind_is_dropped(hub: EventHub) -> None:
    with hub.subscribe("alice") as slow, hub.subscribe("alice") as fast:
        await enqueue(hub, "alice", count=60)  # the queues hold 50
        async with asyncio.timeout(10):
            while fast.queue.qsize() < 50 and slow.queue.qsize() < 50:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
        with pytest.raises(SubscriberOverflowError):
            for _ in range(51):
                await slow.next()


async def test_a_stream_starts_when_it_is_asked_for_not_when_it_is_first_read(hub: EventHub) -> None:
    """A server answers a stream's headers before it reads the stream: what happens in between (a job
    that ends while a client looks at its status) must reach the client, not fall in the gap."""
    stream = hub.stream("alice")
    (job,) = await enqueue(hub, "alice")
    await asyncio.sleep(0.2)  # the hub has dispatched it (every 0.02 s) before the stream is read
    (event,) = await collect(stream, 1)
    assert (event.job_id, event.type) == (job, "queued")
