"""Sending webhook deliveries (R177, R178, R199, R200).

The worker calls ``Sender.run_due`` on every tick. It claims the deliveries that are due
(service clock) in one short transaction, sends each on a thread of its own (at most eight at
once per process) with no transaction open, and records each attempt in another short
transaction. A claim lasts a minute of real time: a process killed while sending leaves its
deliveries to be claimed again, so nothing written to the outbox is lost, and a receiver may
see a delivery again only as a retry with the same ``webhook-id``.

Each attempt resolves the endpoint's host again (off the event loop, on the sending thread),
refuses it unless every address is allowed (``app.webhooks.destinations``), and connects to
the address it checked: the URL's host is replaced by that address, the ``Host`` header and
TLS (server name and certificate) keep the name. Redirects are not followed, proxy variables
are ignored, an attempt times out after 10 s and at most 64 KiB of an answer is read.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import certifi
import httpx
from cryptography.fernet import InvalidToken
from sqlalchemy import Engine, func, or_
from sqlmodel import Session, col, select

from app.clock import Clock
from app.database import read_session, write_session
from app.webhooks import rules, service
from app.webhooks.destinations import Destination, destination, resolved_problem
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.rules import Outcome
from app.webhooks.sealing import Sealer

log = logging.getLogger("bcc_images.webhooks")
#: how long a claimed delivery is left to the process that claimed it (real time): longer
#: than an attempt takes (10 s to connect, to send and to be answered, the answer read by
#: the 10 s deadline); a process killed mid-attempt leaves it to be sent again after
CLAIM = timedelta(seconds=60)
#: attempts of one account's deliveries under way at once, per process
MAX_PER_ACCOUNT = 2
JOINED = col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id)
Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Claim:
    """A delivery this process sends now: everything the attempt needs, read at the claim."""

    delivery_id: str
    url: str
    body: bytes
    secrets: tuple[str, ...]
    until: datetime | None = None  # the claim's end as written: this process's while it holds
    owner_id: str = ""  # the account whose delivery it is


class Sender:
    """Sends the deliveries that are due; one per process, shared by its worker's ticks."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        sealer: Sealer,
        *,
        allow_private: bool = False,
        allow_hosts: Collection[str] = (),
        resolver: Resolver = resolve,
        ca_file: str = "",
    ) -> None:
        self.engine, self.clock, self.sealer = engine, clock, sealer
        self.allow_private, self.allow_hosts = allow_private, frozenset(allow_hosts)
        self.resolver = resolver
        self._pool = ThreadPoolExecutor(rules.MAX_IN_FLIGHT, thread_name_prefix="webhooks")
        self._client = httpx.Client(
            verify=_trusted(ca_file),
            trust_env=False,
            follow_redirects=False,
            timeout=rules.ATTEMPT_TIMEOUT_SECONDS,
        )
        self._closing = False
        self._running = threading.Lock()  # held while a batch is claimed and sent

    def stop(self) -> None:
        """Claim nothing more (what is under way finishes)."""
        self._closing = True

    def close(self) -> None:
        """Stop sending, once the attempts under way have finished (a delivery claimed but not
        sent is sent by another process, or by this one once restarted, when its claim ends).
        """
        self.stop()
        with self._running:  # the batch under way, if any
            self._pool.shutdown(wait=True)
            self._client.close()

    def run_due(self) -> int:
        """Send every delivery that is due, at most eight at a time and at most two of one
        account's (so that one account's slow receivers hold back nobody else's); a slot
        that frees is filled at once. Returns how many were sent.
        """
        sent = 0
        running: dict[Future[None], str] = {}  # attempt under way -> its account
        with self._running:
            while not self._closing:
                free = rules.MAX_IN_FLIGHT - len(running)
                for claim in self._claim(free, Counter(running.values())) if free else []:
                    running[self._pool.submit(self._deliver, claim)] = claim.owner_id
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                    del running[future]
                sent += len(done)
        return sent

    def _claim(self, most: int, busy: Counter[str]) -> list[Claim]:
        """Claim up to ``most`` due deliveries, oldest first, none of an account that already
        has ``MAX_PER_ACCOUNT`` under way (``busy``: attempts under way by account).
        """
        real = datetime.now(UTC)
        due = self._due(real)
        wanted = self._fair_share(due, most, busy)
        if not wanted:
            return []
        with write_session(self.engine) as session:
            stmt = (
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, JOINED)
                .where(col(WebhookDelivery.id).in_(wanted), *due)
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
                .limit(most)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
            claims = []
            for delivery, endpoint in session.exec(stmt):
                try:
                    secrets = service.signing_secrets(endpoint, self.sealer, self.clock.now())
                except InvalidToken:  # sealed under another key: it can never be signed
                    log.error("webhook endpoint %s: its secret cannot be opened", endpoint.id)
                    _unsignable(session, delivery, real)
                    continue
                delivery.claimed_until = real + CLAIM
                session.add(delivery)
                claims.append(
                    Claim(
                        delivery.id,
                        endpoint.url,
                        delivery.body.encode(),
                        tuple(secrets),
                        delivery.claimed_until,
                        delivery.owner_id,
                    )
                )
            return claims

    def _due(self, real: datetime) -> tuple[Any, ...]:
        """What makes a delivery due now: pending, its time come (service clock), claimed by
        nobody (real time), its endpoint enabled.
        """
        return (
            col(WebhookDelivery.status) == service.PENDING,
            col(WebhookDelivery.next_attempt_at) <= self.clock.now(),
            or_(
                col(WebhookDelivery.claimed_until).is_(None),
                col(WebhookDelivery.claimed_until) < real,
            ),
            col(WebhookEndpoint.enabled).is_(True),
        )

    def _fair_share(self, due: tuple[Any, ...], most: int, busy: Counter[str]) -> list[str]:
        """The due deliveries to try to claim: each account's oldest, read unlocked (a window
        and FOR UPDATE do not mix; the claim locks and reads them again, since another process
        may have taken some), leaving out what would put an account over its share.
        """
        rank = (
            func.row_number()
            .over(
                partition_by=col(WebhookDelivery.owner_id),
                order_by=(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)),
            )
            .label("rank")
        )
        ranked = (
            select(WebhookDelivery.id, WebhookDelivery.owner_id, WebhookDelivery.next_attempt_at)
            .add_columns(rank)
            .join(WebhookEndpoint, JOINED)
            .where(*due)
            .subquery()
        )
        with read_session(self.engine) as session:  # most ticks: nothing is due
            candidates = session.exec(
                select(ranked.c.id, ranked.c.owner_id, ranked.c.rank)
                .where(ranked.c.rank <= MAX_PER_ACCOUNT)
                .order_by(ranked.c.rank, ranked.c.next_attempt_at, ranked.c.id)
                .limit(most + rules.MAX_IN_FLIGHT * MAX_PER_ACCOUNT)
            ).all()
        return [
            delivery_id
            for delivery_id, owner_id, number in candidates
            if busy[owner_id] + number <= MAX_PER_ACCOUNT
        ]

    def _deliver(self, claim: Claim) -> None:
        at = datetime.now(UTC)
        started = time.monotonic()
        try:
            outcome, answer = self._attempt(claim, at)
        except Exception:  # recorded as a failed attempt; the delivery is retried
            log.exception("webhook delivery %s failed unexpectedly", claim.delivery_id)
            outcome, answer = Outcome(None, "The attempt failed inside the service."), b""
        self._record(claim, outcome, answer, at, int((time.monotonic() - started) * 1000))

    def _attempt(self, claim: Claim, at: datetime) -> tuple[Outcome, bytes]:
        target = destination(claim.url)
        try:
            addresses = self.resolver(target.host, target.port)
        except OSError:
            return Outcome(None, f"{target.host} could not be resolved."), b""
        problem = resolved_problem(
            target, addresses, allow_private=self.allow_private, allow_hosts=self.allow_hosts
        )
        if problem is not None:
            return Outcome(None, f"Refused: {problem}"), b""
        headers = rules.headers(claim.secrets, claim.delivery_id, at, claim.body)
        headers["host"] = _host_header(target)
        headers["user-agent"] = "bcc-images-webhooks"
        url = httpx.URL(claim.url).copy_with(host=addresses[0])
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        deadline = time.monotonic() + rules.ATTEMPT_TIMEOUT_SECONDS
        try:
            with self._client.stream(
                "POST", url, content=claim.body, headers=headers, extensions=extensions
            ) as response:
                answer = _read(response, deadline)
        except (httpx.TimeoutException, TimeoutError):
            return Outcome(None, f"No answer within {rules.ATTEMPT_TIMEOUT_SECONDS:g} s."), b""
        except httpx.HTTPError as error:
            return Outcome(None, f"Could not connect ({type(error).__name__})."), b""
        status = response.status_code
        return Outcome(status, None if 200 <= status < 300 else f"Answered {status}."), answer

    def _record(
        self, claim: Claim, outcome: Outcome, answer: bytes, at: datetime, duration_ms: int
    ) -> None:
        with write_session(self.engine) as session:
            delivery = session.exec(
                select(WebhookDelivery)
                .where(col(WebhookDelivery.id) == claim.delivery_id)
                .with_for_update()
            ).first()
            if delivery is None:
                return  # its endpoint was deleted meanwhile
            if delivery.claimed_until != claim.until:
                # the attempt outlived its claim and another process took the delivery over:
                # its own attempt is the one recorded
                log.warning("webhook delivery %s: the attempt outlived its claim", delivery.id)
                return
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            assert endpoint is not None
            delivery.attempts += 1
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    number=delivery.attempts,
                    at=at,
                    status_code=outcome.status,
                    duration_ms=duration_ms,
                    answer=answer[: rules.KEPT_ANSWER_BYTES].decode("utf-8", "replace"),
                    error=outcome.error,
                )
            )
            _follow(delivery, endpoint, outcome, self.clock.now())
            session.add(delivery)
            session.add(endpoint)


def _follow(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome, now: datetime
) -> None:
    """What an attempt's outcome makes of its delivery and endpoint (service clock ``now``)."""
    delivery.claimed_until = None
    if outcome.delivered:
        delivery.status, delivery.next_attempt_at = service.SUCCEEDED, None
        endpoint.failing_since = None
        return
    following = rules.next_attempt(delivery.attempts, now)
    delivery.next_attempt_at = following
    if following is None:
        delivery.status = service.FAILED
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.enabled and now - endpoint.failing_since >= rules.DISABLE_AFTER:
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"Disabled on {now:%Y-%m-%d %H:%M} UTC: every delivery has failed since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC. Enable it with updateWebhookEndpoint."
        )


def _unsignable(session: Session, delivery: WebhookDelivery, real: datetime) -> None:
    """A delivery whose endpoint's secret this server cannot open fails at once, saying so."""
    delivery.attempts += 1
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            at=real,
            error="The endpoint's secret cannot be read with this server's key "
            "(BCC_IMAGES_SECRET_KEY changed?); rotate the secret.",
        )
    )
    delivery.status, delivery.next_attempt_at = service.FAILED, None
    session.add(delivery)


def _host_header(target: Destination) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def _trusted(ca_file: str) -> ssl.SSLContext:
    """The authorities a receiver's certificate may be signed by: the public ones, and those
    of ``ca_file`` when one is given (the name checked is the URL's, sent as SNI).
    """
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _read(response: httpx.Response, deadline: float) -> bytes:
    """At most 64 KiB of an answer, all of it by ``deadline`` (a receiver that drips its
    answer a byte at a time would otherwise hold a sending thread for as long as it likes).

    Raises:
        TimeoutError: the answer was still coming at the deadline.
    """
    kept = bytearray()
    for chunk in response.iter_bytes():
        kept += chunk[: rules.MAX_ANSWER_BYTES - len(kept)]
        if len(kept) >= rules.MAX_ANSWER_BYTES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError
    return bytes(kept)
