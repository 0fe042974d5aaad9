"""Background sync with the backend: outbox upload, heartbeat, config refresh (ETag)."""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from device.api import ApiError, Busy, DeviceApi, Offline
from device.remote import RemoteConfigError
from device.state import RemoteHolder
from device.store import Event, Store

log = logging.getLogger("device.sync")

Clock = Callable[[], datetime]
StatusSource = Callable[[], tuple[int, str]]
PRUNE_EVERY = timedelta(hours=1)
# Redemptions waiting to be reported ahead of the batch; older ones simply go with it.
MAX_URGENT = 32
# The longest wait between failed rounds: the heartbeat interval, so once the backend is
# back a dispenser is heard again within about a minute and a half (before its offline
# alert could be raised), while a fleet cut off together calls no more often than its
# heartbeats do.
MAX_RETRY_SECONDS = 60.0


class Syncer:
    """Keeps the backend informed; ``online`` tells whether the last contact worked."""

    def __init__(
        self,
        api: DeviceApi,
        store: Store,
        remote: RemoteHolder,
        status: StatusSource,
        *,
        clock: Clock,
        batch_size: int = 200,
        retry_seconds: float = 15.0,
    ) -> None:
        self.api = api
        self.store = store
        self.remote = remote
        self.status = status
        self.clock = clock
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self._failures = 0  # rounds failed in a row (unreachable or refused)
        self.online = False
        self._next_heartbeat: datetime | None = None
        self._next_config: datetime | None = None
        self._next_prune: datetime | None = None
        self._urgent: deque[str] = deque(maxlen=MAX_URGENT)
        self._urgent_lock = threading.Lock()
        # Set when the backend answered 503 + Retry-After: no call before then, even if kicked.
        self._not_before: datetime | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Sync soon (for example right after an event was recorded)."""
        self._wake.set()

    def report_soon(self, event_id: str) -> None:
        """Report this event (a redemption) at once, ahead of the outbox's batches.

        The phone that showed the token waits for it ("Paper given"). The event stays in
        the outbox: it is sent alone first, with the same event id, so a batch that sends
        it again is counted once by the backend.
        """
        with self._urgent_lock:
            self._urgent.append(event_id)
        self._wake.set()

    def upload_urgent(self) -> int:
        """Send the events asked for by ``report_soon`` one by one; return how many went."""
        sent = 0
        while True:
            with self._urgent_lock:
                if not self._urgent:
                    return sent
                event_id = self._urgent.popleft()
            event = self.store.pending_event(event_id)
            if event is None:
                continue  # already uploaded with a batch
            try:
                self.api.post_events([event.body])
            except ApiError as exc:
                if exc.status == 400:
                    continue  # malformed: the batch upload sets it aside
                self._forget_urgent()
                raise
            except Offline:
                # Left in the outbox: the batch upload sends it when the backend is back.
                self._forget_urgent()
                raise
            self.store.mark_uploaded([event_id], now=self.clock())
            sent += 1

    def _forget_urgent(self) -> None:
        with self._urgent_lock:
            self._urgent.clear()

    def upload_pending(self) -> int:
        """Upload every pending event in batches; return how many the backend acknowledged."""
        sent = 0
        while True:
            events = self.store.pending_events(self.batch_size)
            if not events:
                return sent
            try:
                self.api.post_events([event.body for event in events])
            except ApiError as exc:
                if exc.status != 400:
                    raise
                # One malformed event must not block the outbox: find it, set it aside.
                sent += self._upload_one_by_one(events)
                continue
            # A 200 means every event is stored (new or duplicate), so all are done.
            self.store.mark_uploaded([event.event_id for event in events], now=self.clock())
            sent += len(events)

    def _upload_one_by_one(self, events: list[Event]) -> int:
        """Upload events singly; mark those the backend refuses as rejected."""
        sent = 0
        for event in events:
            try:
                self.api.post_events([event.body])
            except ApiError as exc:
                if exc.status != 400:
                    raise
                log.error("the backend refused an outbox event: %s", exc.code)
                self.store.mark_rejected(event.event_id, now=self.clock())
                continue
            self.store.mark_uploaded([event.event_id], now=self.clock())
            sent += 1
        return sent

    def refresh_config(self) -> bool:
        """Fetch the config if it changed; return True when a new one was applied."""
        doc, etag = self.api.get_config(self.remote.etag)
        remote = self.remote.get()
        self._next_config = self.clock() + timedelta(
            seconds=remote.config_refresh_seconds if remote else 300
        )
        if doc is None:
            return False
        try:
            self.remote.replace(doc, etag)
        except RemoteConfigError as exc:
            log.error("ignoring an unusable config from the backend: %s", exc)
            return False
        log.info("applied a new configuration from the backend")
        return True

    def heartbeat(self) -> None:
        """Send the heartbeat; refresh the config at once if its ETag changed."""
        level, status = self.status()
        answer = self.api.heartbeat(paper_level=level, status=status)
        remote = self.remote.get()
        self._next_heartbeat = self.clock() + timedelta(
            seconds=remote.heartbeat_seconds if remote else 60
        )
        etag = answer.get("config_etag")
        if isinstance(etag, str) and etag and etag != self.remote.etag:
            self.refresh_config()

    def sync_once(self) -> None:
        """One round: upload, then heartbeat and config when due. Raises Offline/ApiError."""
        try:
            now = self.clock()
            self.upload_urgent()
            self.upload_pending()
            if self._next_config is None or now >= self._next_config:
                self.refresh_config()
            if self._next_heartbeat is None or now >= self._next_heartbeat:
                self.heartbeat()
            if self._next_prune is None or now >= self._next_prune:
                self.store.prune(now=now)
                self._next_prune = now + PRUNE_EVERY
        except Offline:
            self.online = False
            raise
        except ApiError as exc:
            self.online = exc.status != 401
            raise
        self.online = True

    def _round(self) -> float:
        """Run one round, log changes of state, and return how long to wait for the next."""
        if self._not_before is not None:
            waiting = (self._not_before - self.clock()).total_seconds()
            if waiting > 0:
                return waiting  # the backend asked for a pause: honour it
            self._not_before = None
        was_online = self.online
        try:
            self.sync_once()
        except Busy as exc:
            # Spread the retries of a whole fleet over half the interval again.
            pause = exc.retry_after * random.uniform(1.0, 1.5)  # noqa: S311 - jitter, not secrets
            self._not_before = self.clock() + timedelta(seconds=pause)
            log.warning("backend busy; next call in %.0f s", pause)
            return pause
        except Offline as exc:
            if was_online:
                log.warning("backend unreachable (%s); working offline", exc)
            return self._back_off()
        except ApiError as exc:
            log.error("backend refused a sync call: %s %s", exc.status, exc.code)
            return self._back_off()
        self._failures = 0
        if not was_online:
            log.info("backend reachable")
        return 1.0

    def _back_off(self) -> float:
        """The wait after a failed round: ``retry_seconds``, then twice as long each time
        in a row, up to four times it and not past MAX_RETRY_SECONDS (unless
        ``retry_seconds`` itself is longer), each spread over
        half to one and a half of that, so a fleet cut off together (the backend or its
        load balancer down) comes back spread out rather than all at once."""
        self._failures += 1
        cap = max(self.retry_seconds, min(MAX_RETRY_SECONDS, 4 * self.retry_seconds))
        base = min(cap, self.retry_seconds * 2.0 ** min(self._failures - 1, 16))
        return base * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not secrets

    def start(self) -> None:
        """Run rounds in a background thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self._round()
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
