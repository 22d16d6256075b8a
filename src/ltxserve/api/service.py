"""What every HTTP surface does, in the catalog's terms: submit (validated in full before anything is
queued), look up, list, cancel, wait, follow events, upload. A dialect module translates its
provider's names and shapes to these calls and back, and nothing else.

Errors name the catalog parameter at fault (`ParamsError`, `InvalidRequestError`); the dialect
renames it.
"""

import asyncio
import contextlib
import io
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from ltxserve.api.views import JobView, Page, ResultView
from ltxserve.catalog import Product
from ltxserve.database import JobState
from ltxserve.engine.check import check
from ltxserve.engine.planning import decided_by_inputs, decisions, new_seconds, plan_request
from ltxserve.engine.weights import WeightSet
from ltxserve.inputs import (
    UPLOAD_SCHEME,
    FetchError,
    check_rules,
    check_url,
    decode_data_uri,
    upload_id,
    upload_key,
    upload_owner,
)
from ltxserve.jobs.events import EventHub, SubscriberOverflowError
from ltxserve.jobs.store import Event, JobStore, QuotaExceededError
from ltxserve.jobs.webhooks import Callback
from ltxserve.keys import KeyLimits, KeyStore
from ltxserve.probing import probe_inputs
from ltxserve.request import GenerationRequest, InputRules, InvalidRequestError, MediaRef, request_to_json
from ltxserve.settings import Settings
from ltxserve.storage import Storage, StorageError

__all__ = ["JobView", "QuotaExceededError", "Service", "StorageQuotaError", "Upload"]


@dataclass(frozen=True)
class Upload:
    id: str
    uri: str
    size: int
    created_at: float


class StorageQuotaError(QuotaExceededError):
    """An upload that does not fit in what its key may still keep."""

    def __init__(self, used: int, size: int, quota: int) -> None:
        wanted = f"; this one is {size} bytes" if size else ""
        super().__init__(
            f"this key keeps {used} bytes of uploads, and its quota is {quota}{wanted}: "
            "delete uploads (DELETE /api/uploads/ID) to make room"
        )


@dataclass(frozen=True)
class UploadSlot:
    """An upload to come: `uri` names it once the client has PUT its bytes at `url`."""

    id: str
    uri: str
    url: str
    expires_at: float


class Service:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        storage: Storage,
        hub: EventHub,
        weights: WeightSet | None,
        keys: KeyStore | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        """Where keys' own limits are kept (None when auth is off: the server's defaults hold)."""
        self.store = store
        self.storage = storage
        self.hub = hub
        self.weights = weights

    # --- submitting ----------------------------------------------------------------------------

    async def submit(
        self,
        owner: str,
        surface: str,
        spec: Product,
        body: dict[str, Any],
        count: int = 1,
        webhook: Callback | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Validate in full (parameters, weights, shapes, media references, the webhook's URL), then
        queue `count` jobs of `surface`'s product `spec`, each called back at `webhook` when it ends.
        A submission named by `idempotency_key` that was made already answers its jobs instead."""
        if idempotency_key is not None:
            idempotency_key = f"{surface} {idempotency_key}"  # a retry on one surface is not another's
            earlier = await asyncio.to_thread(self.store.submitted, owner, idempotency_key)
            if earlier is not None:  # a retry: nothing checked, moved or queued again
                return earlier
        if webhook is not None:
            try:
                check_url(webhook.url, self.settings.fetch)
            except FetchError as error:
                raise InvalidRequestError("webhook", str(error)) from None
        params = spec.validate(body)
        request = spec.request(params)
        try:
            request, moved = await self._check(owner, request)
        except InvalidRequestError as error:
            raise InvalidRequestError(spec.param_for(error.field), error.message) from None
        # the job keeps what the worker will fetch: upload references instead of data URIs
        params = params.model_copy(update={spec.param_for(field): uri for field, uri in moved.items()})
        limits = await self._limits(owner)
        seconds = new_seconds(request)
        return await asyncio.to_thread(
            self.store.enqueue,
            owner,
            surface,
            spec.id,
            request_to_json(request),
            params.model_dump(mode="json"),
            cost=spec.cost(params),
            count=count,
            max_unfinished=limits.max_unfinished,
            webhook=webhook,
            seconds=None if seconds is None else float(seconds),
            seconds_per_day=limits.seconds_per_day,
            idempotency_key=idempotency_key,
        )

    async def plan(
        self, owner: str, spec: Product, body: dict[str, Any]
    ) -> tuple[GenerationRequest, dict[str, object]]:
        """The request a submission of `body` makes, and what it would decide once its inputs are read
        (the model's size and length, an extend's context, a retake's window snapped to latent and
        audio frames), without queueing it. Its media must be uploads, read here as a worker reads them."""
        request = spec.request(spec.validate(body))
        try:
            check(request, self.weights, self.settings.engine.chaining)
            with tempfile.TemporaryDirectory(prefix="ltxserve-plan-") as scratch:
                local = await asyncio.to_thread(self._fetch_uploads, owner, request, Path(scratch))
                infos = await asyncio.to_thread(probe_inputs, local, self.settings.media)
            decided = decided_by_inputs(request, infos)
            source = infos.get("extend.video") or infos.get("retake.video")
            return request, decisions(
                plan_request(decided, source.video if source else None, self.settings.engine.chaining)
            )
        except InvalidRequestError as error:
            raise InvalidRequestError(spec.param_for(error.field), error.message) from None

    def _fetch_uploads(self, owner: str, request: GenerationRequest, scratch: Path) -> GenerationRequest:
        local = {}
        for field, ref in request.media_inputs.items():
            if field.startswith("loras."):
                continue  # weights, not media: nothing a plan reads
            if not ref.uri.startswith(UPLOAD_SCHEME):
                raise InvalidRequestError(field, "a plan reads uploads (upload://) only; upload it first")
            try:
                path = self.storage.download(upload_key(owner, upload_id(ref.uri)), scratch / field)
            except (StorageError, FetchError):
                raise InvalidRequestError(field, f"no upload {ref.uri} (uploads are the key's own)") from None
            local[field] = MediaRef.file(path)
        return request.with_media(local)

    async def _check(
        self, owner: str, request: GenerationRequest
    ) -> tuple[GenerationRequest, dict[str, str]]:
        """The request as it will be queued, and the media references that changed on the way."""
        check(request, self.weights, self.settings.engine.chaining)
        if not self.settings.provider_input_rules:
            request = replace(request, input_rules=None)
        inlined: dict[str, bytes] = {}
        for field, ref in request.media_inputs.items():
            try:
                check_rules(field, ref.uri, request.input_rules)
                data = await self._check_media(owner, ref, request.input_rules)
            except FetchError as error:
                raise InvalidRequestError(field, str(error)) from None
            if data is not None:
                inlined[field] = data
        # only once every reference has passed: data URIs become uploads, so the job row stays small
        moved = {
            field: (await self._store_upload(owner, io.BytesIO(data))).uri for field, data in inlined.items()
        }
        return request.with_media({field: MediaRef(uri) for field, uri in moved.items()}), moved

    async def _check_media(self, owner: str, ref: MediaRef, rules: InputRules | None) -> bytes | None:
        """Check a reference as far as can be done without fetching it: URLs pass the checks that
        need no network, uploads must exist, be the owner's and not too large; a data URI's bytes are
        returned."""
        uri = ref.uri
        if uri.startswith("data:"):
            return decode_data_uri(uri, self.settings.fetch.max_bytes)
        if uri.startswith(UPLOAD_SCHEME):
            size = await asyncio.to_thread(self.storage.size, upload_key(owner, upload_id(uri)))
            if size is None:
                raise FetchError(f"no upload {uri} (uploads are visible only to the key that made them)")
            if rules is not None and size > rules.upload_bytes:
                raise FetchError(f"the upload is {size} bytes; at most {rules.upload_bytes} are taken here")
        elif "://" not in uri:
            raise FetchError("expected an https URL, a data URI or an upload:// reference")
        else:
            check_url(uri, self.settings.fetch)
        return None

    async def upload_slot(self, owner: str, base_url: str, lifetime: timedelta) -> UploadSlot:
        """A place for an upload the client PUTs itself (to this server, or straight to the bucket).
        A key with no room left gets none; a bucket takes what is PUT to it, so a PUT to one can
        pass the quota once, and the key's next upload is refused until it makes room."""
        used, quota = await self._storage_use(owner)
        if used >= quota:
            raise StorageQuotaError(used, 0, quota)
        identifier = secrets.token_hex(12)
        url = self.storage.put_url(
            upload_key(owner, identifier), self.settings.public_url or base_url, lifetime
        )
        return UploadSlot(
            identifier, f"{UPLOAD_SCHEME}{identifier}", url, time.time() + lifetime.total_seconds()
        )

    async def put_in_slot(self, key: str, source: BinaryIO) -> None:
        """The bytes PUT to a slot's link (one this server serves), within its key's quota."""
        await self._within_quota(upload_owner(key), key, _size(source), lambda: self.storage.put(key, source))

    async def upload_content(self, owner: str, identifier: str) -> tuple[int, AsyncIterator[bytes]] | None:
        """One of `owner`'s uploads, its size and its bytes as they are read; None if there is none."""
        key = upload_key(owner, identifier)
        size = await asyncio.to_thread(self.storage.size, key)
        return None if size is None else (size, self.storage.stream(key))

    async def delete_upload(self, owner: str, identifier: str) -> bool:
        """Delete one of `owner`'s uploads; False if there was none."""
        key = upload_key(owner, identifier)
        if await asyncio.to_thread(self.storage.size, key) is None:
            return False
        await asyncio.to_thread(self.storage.delete, key)
        return True

    async def uploads(self, owner: str) -> tuple[list[Upload], int, int]:
        """`owner`'s uploads, oldest first, the bytes they take, and the bytes the key may keep."""
        stored = await asyncio.to_thread(self.storage.listing, upload_key(owner, ""))
        uploads = []
        for item in stored:
            name = item.key.rpartition("/")[2]
            uploads.append(Upload(name, UPLOAD_SCHEME + name, item.size, item.modified_at))
        return uploads, sum(upload.size for upload in uploads), await self._storage_quota(owner)

    async def upload(self, owner: str, source: BinaryIO) -> Upload:
        return await self._store_upload(owner, source)

    async def _store_upload(self, owner: str, source: BinaryIO) -> Upload:
        identifier = secrets.token_hex(12)
        key = upload_key(owner, identifier)
        size = _size(source)
        await self._within_quota(owner, key, size, lambda: self.storage.put(key, source))
        return Upload(identifier, f"{UPLOAD_SCHEME}{identifier}", size, time.time())

    async def _within_quota(self, owner: str, key: str, size: int, store: Callable[[], None]) -> None:
        """Store `size` bytes at `key` with `store` if they fit in `owner`'s quota. Uploads stored at
        the same time are checked again once stored: if together they pass the quota, each is deleted
        and refused, so the quota holds however many arrive at once."""
        await self._check_room(owner, size)
        await asyncio.to_thread(store)
        try:
            await self._check_room(owner, 0)
        except StorageQuotaError:
            await asyncio.to_thread(self.storage.delete, key)
            raise

    async def _check_room(self, owner: str, size: int) -> None:
        """StorageQuotaError unless `size` more bytes fit in what `owner` may keep."""
        used, quota = await self._storage_use(owner)
        if used + size > quota:
            raise StorageQuotaError(used, size, quota)

    async def _storage_use(self, owner: str) -> tuple[int, int]:
        """The bytes `owner`'s uploads take, and the bytes it may keep."""
        _, used, quota = await self.uploads(owner)
        return used, quota

    async def _storage_quota(self, owner: str) -> int:
        quota = (await self._limits(owner)).storage_quota
        assert quota is not None, "the server's default is a number"
        return quota

    async def _limits(self, owner: str) -> KeyLimits:
        """The owner's key's own limits, and the server's where it has none."""
        own = KeyLimits() if self.keys is None else await asyncio.to_thread(self.keys.limits, owner)
        server = self.settings
        return own.over(
            KeyLimits(
                storage_quota=server.storage_quota_per_key,
                max_unfinished=server.max_unfinished_per_key,
                seconds_per_day=server.seconds_per_day_per_key,
            )
        )

    # --- looking up ----------------------------------------------------------------------------

    async def get(self, owner: str, job_id: str, base_url: str) -> JobView | None:
        found = await asyncio.to_thread(self.store.get_with_position, job_id, owner)
        if found is None:
            return None
        job, position = found
        return JobView.of(job, self.result_url(job.result, base_url), position)

    def result_url(self, result: dict[str, Any] | None, base_url: str) -> str | None:
        if not result or "key" not in result:
            return None
        return self.storage.url(result["key"], self.settings.public_url or base_url)

    def result_stream(self, result: ResultView) -> AsyncIterator[bytes]:
        """The result's bytes as they are read from storage, for a response that carries the video."""
        if result.key is None:
            raise StorageError(result.gone)
        return self.storage.stream(result.key)

    async def result_bytes(self, result: ResultView) -> bytes:
        if result.key is None:
            raise StorageError(result.gone)
        return await asyncio.to_thread(self.storage.read, result.key)

    async def discard_result(self, job_id: str) -> None:
        """Delete a result's file and forget where it was; the job keeps its description."""
        key = await asyncio.to_thread(self.store.discard_result, job_id)
        if key is not None:
            await asyncio.to_thread(self.storage.delete, key)

    async def list_jobs(
        self,
        owner: str,
        states: Sequence[JobState] | None,
        model: str | None,
        limit: int,
        base_url: str,
        past: str | None = None,
        oldest_first: bool = False,
    ) -> Page:
        """A page of `owner`'s jobs, newest first (or oldest first), after the cursor `past` (a job
        id: the last one of the page before) if given."""
        jobs = await asyncio.to_thread(
            self.store.list_jobs, owner, states=states, model=model, limit=limit + 1, past=past,
            oldest_first=oldest_first,
        )  # fmt: skip
        views = [JobView.of(job, self.result_url(job.result, base_url), None) for job in jobs[:limit]]
        return Page(views, has_more=len(jobs) > limit)

    async def delete(self, owner: str, job_id: str) -> None:
        """Forget the job and delete its result's file (a running one stops at its next step)."""
        key = await asyncio.to_thread(self.store.delete, job_id, owner)
        if key is not None:
            await asyncio.to_thread(self.storage.delete, key)

    async def copy_to_upload(self, owner: str, result: ResultView) -> str:
        """A copy of a result as one of `owner`'s uploads, for a request to take as its input."""
        if result.key is None:
            raise StorageError(result.gone)
        source = result.key
        identifier = secrets.token_hex(12)
        key = upload_key(owner, identifier)
        size = await asyncio.to_thread(self.storage.size, source)
        await self._within_quota(owner, key, size or 0, lambda: self.storage.copy(source, key))
        return UPLOAD_SCHEME + identifier

    async def cancel(self, owner: str, job_id: str) -> JobState | None:
        return await asyncio.to_thread(self.store.cancel, job_id, owner)

    async def wait(self, owner: str, job_id: str, base_url: str) -> JobView:
        """The job once it has ended (or as it stands when the sync timeout passes)."""
        terminal = {state.value for state in JobState if state.terminal}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.sync_timeout):
                while True:
                    with self.hub.subscribe(owner) as subscription:
                        view = await self.get(owner, job_id, base_url)  # after subscribing: no gap
                        if view is None or view.state.terminal:
                            break
                        with contextlib.suppress(SubscriberOverflowError):
                            while (event := await subscription.next()).job_id != job_id or (
                                event.type not in terminal
                            ):
                                pass
        view = await self.get(owner, job_id, base_url)
        if view is None:
            raise LookupError(job_id)
        return view

    def events(self, owner: str, after: int | None) -> AsyncIterator[list[Event]]:
        return self.hub.stream(owner, after)

    async def history(self, owner: str, job_id: str, limit: int = 10_000) -> list[Event]:
        """Every event of one of `owner`'s jobs, oldest first."""
        return await asyncio.to_thread(self.store.events_after, 0, owner=owner, job_id=job_id, limit=limit)


def _size(source: BinaryIO) -> int:
    """The bytes left to read in a seekable file (every upload is spooled or in memory first)."""
    start = source.tell()
    end = source.seek(0, io.SEEK_END)
    source.seek(start)
    return end - start
