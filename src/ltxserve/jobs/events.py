"""Job events, delivered to every listener in this process that may see them.

One source per process feeds every subscriber: on SQLite a task reading new rows every few tens of
milliseconds (writers are serialised there, so sequence order is commit order); on PostgreSQL a
thread LISTENing for the notifications the store sends with each event. A client that reconnects
with the last event id it saw gets the events it missed from the table, then the live ones, with
none twice. A subscriber that falls too far behind is dropped rather than slowing the rest: its
client reconnects and catches up from the table.
"""

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ltxserve.jobs.store import EVENT_CHANNEL, Event, JobStore

log = logging.getLogger("ltxserve.events")

REPLAY_LIMIT = 10_000
"""The most missed events a reconnecting client is sent."""


class SubscriberOverflowError(Exception):
    """The subscriber fell too far behind and was dropped."""


class Subscription:
    def __init__(self, owner: str | None, size: int) -> None:
        self.owner = owner
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size)

    def offer(self, event: Event) -> bool:
        """Queue the event; False when the queue is full."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    async def next(self) -> Event:
        event = await self.queue.get()
        if event is None:
            raise SubscriberOverflowError("too far behind; reconnect with Last-Event-ID")
        return event

    def drain(self) -> list[Event]:
        """The events already waiting, without waiting for more."""
        ready = []
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if event is None:
                raise SubscriberOverflowError("too far behind; reconnect with Last-Event-ID")
            ready.append(event)
        return ready


class EventHub:
    def __init__(self, store: JobStore, *, poll_seconds: float = 0.05, queue_size: int = 10_000) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._cursor = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._cursor = await asyncio.to_thread(self.store.last_seq)
        if self.store.postgres:
            ready = threading.Event()
            self._thread = threading.Thread(target=self._listen, args=(ready,), name="events", daemon=True)
            self._thread.start()
            await asyncio.to_thread(ready.wait, 30)
        else:
            self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)

    @contextlib.contextmanager
    def subscribe(self, owner: str | None) -> Iterator[Subscription]:
        """Live events of `owner` (None: everyone's) from now on, while the context lasts."""
        subscription = Subscription(owner, self.queue_size)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def stream(self, owner: str | None, after: int | None = None) -> AsyncIterator[list[Event]]:
        """`owner`'s events, in batches of what is ready at once (so a burst costs one write to the
        client, not one per event): those after `after` (the last one the client saw) from the
        table first, then live ones as they happen. None: from the moment of this call, not of the
        first read (a server sends a stream's headers before it reads the stream; a client that looks
        at a job's status once it has them must not miss what happens in between)."""
        return self._stream(owner, self._cursor if after is None else after)

    async def _stream(self, owner: str | None, after: int) -> AsyncIterator[list[Event]]:
        with self.subscribe(owner) as subscription:
            backlog = await asyncio.to_thread(self.store.events_after, after, owner=owner, limit=REPLAY_LIMIT)
            replayed = {event.seq for event in backlog}
            if backlog:
                yield backlog
            while True:
                ready = [await subscription.next(), *subscription.drain()]
                # the source may still be delivering events from before the client's last one
                fresh = [e for e in ready if e.seq not in replayed and e.seq > after]
                if fresh:
                    yield fresh

    def _dispatch(self, event: Event) -> None:
        for subscription in list(self._subscribers):
            if subscription.owner is not None and subscription.owner != event.owner:
                continue
            if not subscription.offer(event):
                self._subscribers.discard(subscription)
                with contextlib.suppress(asyncio.QueueEmpty):
                    subscription.queue.get_nowait()
                subscription.queue.put_nowait(None)
                log.warning(
                    "dropped a listener of %s: it fell %d events behind", event.owner, self.queue_size
                )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                events = await asyncio.to_thread(self.store.events_after, self._cursor)
            except Exception:
                log.exception("reading events failed; retrying")
                continue
            for event in events:
                self._dispatch(event)
            if events:
                self._cursor = events[-1].seq

    def _listen(self, ready: threading.Event) -> None:
        import psycopg

        url = self.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._closing.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {EVENT_CHANNEL}")
                    ready.set()
                    self._catch_up()
                    while not self._closing.is_set():
                        for notification in connection.notifies(timeout=1.0):
                            self._deliver(json.loads(notification.payload))
            except psycopg.OperationalError:
                log.warning("lost the event listener's database connection; reconnecting")
                self._closing.wait(1.0)

    def _catch_up(self) -> None:
        """Events committed while the listener was not connected."""
        for event in self.store.events_after(self._cursor, limit=REPLAY_LIMIT):
            self._deliver(event.to_json())

    def _deliver(self, payload: dict[str, Any]) -> None:
        event = self.store.event(payload["seq"]) if "job_id" not in payload else Event.from_json(payload)
        if event is None or self._loop is None:
            return
        self._cursor = max(self._cursor, event.seq)
        self._loop.call_soon_threadsafe(self._dispatch, event)
