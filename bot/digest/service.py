"""Digests from the database: collect a period's facts, draft once per period, review, publish once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from bot.common.clock import Clock
from bot.common.errors import InvalidInput, NotFound
from bot.common.limits import FILES_PER_UPLOAD_MAX
from bot.common.messages import DigestCharts, DigestPublish, DigestRefresh, DigestReview
from bot.common.vocabulary import Action
from bot.digest.collect import collect
from bot.digest.compose import build_risk_report, build_weekly
from bot.digest.inputs import (
    DigestInput,
    DigestKind,
    Period,
)
from bot.digest.render import content_hash, render_digest
from bot.digest.schedule import last_slot, next_slot, risk_report_period, weekly_period
from bot.digest.views import DigestContent, Format
from bot.incidents.records import PermissionDenied
from bot.policy.document import Policy
from bot.policy.schedules import RiskReportSchedule, WeeklyDigest
from bot.policy.store import PolicyStore
from db import digest_queries as queries
from db import queues
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import Digest


@dataclass(frozen=True)
class Composed:
    """A digest's content with its renders and hash."""

    content: DigestContent
    text_slack: str
    text_md: str
    data: dict[str, object]
    hash: str


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting still frees nearly everything); back on after.

    A large digest builds hundreds of thousands of rows and views that all live until it is rendered: each full
    collection the collector started meanwhile walked every object in the process, about a third of the compose.
    Process-wide, so only the caller that found collection on turns it back on: overlapping composes (threads)
    never leave it off, and a process that turned it off itself keeps it off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


class DigestRenderer(Protocol):
    """How a digest reads in the chat tool: the text that is published and the review message in each state."""

    def text(self, content: DigestContent, *, summary: str | None) -> str:
        """The digest as the chat tool's text."""
        ...

    def review_states(self, content: DigestContent, *, summary: str | None, digest_id: int) -> dict[str, object]:
        """The review message for each state a draft can reach (draft, published, discarded)."""
        ...


class DigestService:
    """Drafts, edits, publishes and discards digests. Keyword-only verbs; each is one unit of work."""

    def __init__(self, *, uow: UnitOfWork, clock: Clock, policies: PolicyStore, renderer: DigestRenderer) -> None:
        self._uow = uow
        self._clock = clock
        self._policies = policies
        self._renderer = renderer

    def period_for(self, kind: DigestKind, *, end: datetime | None = None) -> Period:
        """The period a digest ending at `end` (default: the last scheduled slot) covers."""
        digest = self._policies.current.digest
        if kind == "weekly":
            return weekly_period(digest.weekly, end=end or last_slot(digest.weekly, now=self._clock()))
        schedule = digest.risk_report
        if schedule is None:
            raise InvalidInput("the policy has no digest.risk_report schedule", field="kind")
        with self._uow() as session:
            last = repo.last_digest(session=session, kind="risk-report")
        last_end = last.period_end if last is not None and (end is None or last.period_end < end) else None
        return risk_report_period(schedule, end=end or last_slot(schedule, now=self._clock()), last_end=last_end)

    def compose(self, period: Period, *, summary: str | None = None) -> Composed:
        """Read the period's facts and render the digest (nothing is stored)."""
        policy = self._policies.current
        with cycle_collection_paused():
            # Read-only: on SQLite a writing unit of work holds the write lock (stalling every command) while it reads.
            with self._uow.read() as session:
                data = self._collect(session, period, policy)
            content = build_weekly(data) if period.kind == "weekly" else build_risk_report(data)
            text_slack = self._renderer.text(content, summary=summary)
            text_md = render_digest(content, fmt="md", summary_override=summary)
            snapshot = content.as_data()
            return Composed(content, text_slack, text_md, snapshot, content_hash(text_md, snapshot))

    def preview(self, kind: DigestKind, *, containing: datetime | None, fmt: Format) -> str:
        """Render a digest without storing or posting it: the period holding `containing`, by default the last
        complete one. A period not over yet is refused: its "at period end" figures would be about the future."""
        if fmt not in ("slack", "md", "html"):
            raise InvalidInput(f"format {fmt!r}: choose slack, md or html", field="format")
        if containing is None:
            period = self.last_complete(kind)
        else:
            end = next_slot(self._schedule(kind), after=containing)
            if end > self._clock():
                raise InvalidInput(
                    f"the {kind} period holding {containing:%Y-%m-%d} ends {end:%Y-%m-%d %H:%M} UTC and is not over "
                    "yet; leave out --period for the last complete one",
                    field="period",
                )
            period = self.period_for(kind, end=end)
        policy = self._policies.current
        with cycle_collection_paused():
            with self._uow.read() as session:
                data = self._collect(session, period, policy)
            content = build_weekly(data) if kind == "weekly" else build_risk_report(data)
            if fmt == "slack":
                return self._renderer.text(content, summary=None)
            return render_digest(content, fmt=fmt)

    def last_complete(self, kind: DigestKind) -> Period:
        """The last period of this kind that is over: the last week, or the last risk-report period at least `every`
        long (the one drafted last, while the next is still running)."""
        if kind == "weekly":
            return self.period_for("weekly")
        schedule = self._schedule(kind)
        assert isinstance(schedule, RiskReportSchedule)
        end = last_slot(schedule, now=self._clock())
        with self._uow.read() as session:
            last = repo.last_digest(session=session, kind="risk-report")
        if last is None or last.period_end > end:
            return risk_report_period(schedule, end=end, last_end=None)
        if end - last.period_end >= schedule.every:
            return risk_report_period(schedule, end=end, last_end=last.period_end)
        return Period(kind="risk-report", start=last.period_start, end=last.period_end, timezone=schedule.timezone)

    def _schedule(self, kind: DigestKind) -> WeeklyDigest | RiskReportSchedule:
        digest = self._policies.current.digest
        schedule = digest.weekly if kind == "weekly" else digest.risk_report
        if schedule is None:
            raise InvalidInput("the policy has no digest.risk_report schedule", field="kind")
        return schedule

    def draft_due(self) -> list[int]:
        """Draft the weekly digest (and the risk report) for the latest slot if not drafted yet: after downtime,
        the missed period is drafted once on start."""
        drafted = []
        weekly = self.draft(self.period_for("weekly"))
        if weekly is not None:
            drafted.append(weekly)
        schedule = self._policies.current.digest.risk_report
        if schedule is not None:
            period = self.period_for("risk-report")
            if period.end - period.start >= schedule.every:
                report = self.draft(period)
                if report is not None:
                    drafted.append(report)
        return drafted

    def draft(self, period: Period) -> int | None:
        """Store and post a draft for the period; None when that period already has one (drafted exactly once)."""
        # Every start asks again; a period drafted already is answered from one indexed row, not a compose.
        with self._uow.read() as session:
            if queries.has_digest(session=session, kind=period.kind, period_start=period.start):
                return None
        composed = self.compose(period)
        policy, now = self._policies.current, self._clock()
        with self._uow() as session:
            row = repo.add_digest(
                session=session,
                digest=Digest(
                    kind=period.kind,
                    period_start=period.start,
                    period_end=period.end,
                    data=composed.data,
                    text_slack=composed.text_slack,
                    text_md=composed.text_md,
                    content_hash=composed.hash,
                    review_channel=policy.digest.review_channel,
                    publish_channel=policy.digest.publish_channel,
                    created_at=now,
                ),
            )
            if row is None:
                return None
            assert row.id is not None
            row.blocks = self._renderer.review_states(composed.content, summary=None, digest_id=row.id)
            charts = [(c.metric_id, c.title, c.png) for c in composed.content.charts]
            repo.replace_charts(session=session, digest_id=row.id, charts=charts)
            channel = row.review_channel
            queues.enqueue_message(session=session, message=DigestReview(digest_id=row.id, channel=channel), now=now)
            uploads = DigestCharts.batches(
                digest_id=row.id, channel=channel, target="review", count=len(charts), size=FILES_PER_UPLOAD_MAX
            )
            for upload in uploads:
                queues.enqueue_message(session=session, message=upload, now=now)
            return row.id

    def edit(self, *, digest_id: int, actor: str, summary: str) -> Digest:
        """Replace the summary of a draft; the text and its hash are rendered again."""
        if not summary.strip():
            raise InvalidInput("The summary cannot be empty.", field="summary")
        self._check(actor)
        with self._uow() as session:
            row = self._draft(session, digest_id)
            period = Period(kind=row.kind, start=row.period_start, end=row.period_end, timezone=self._zone(row))  # type: ignore[arg-type]
        composed = self.compose(period, summary=summary.strip())
        with self._uow() as session:
            row = self._draft(session, digest_id)
            row.summary_override = summary.strip()
            row.blocks = self._renderer.review_states(
                composed.content, summary=row.summary_override, digest_id=digest_id
            )
            row.text_slack, row.text_md, row.data, row.content_hash = (
                composed.text_slack,
                composed.text_md,
                composed.data,
                composed.hash,
            )
            self._refresh(session, row)
            return row

    def publish(self, *, digest_id: int, actor: str) -> Digest:
        """Post the draft to the leadership channel once and freeze it; a second click changes nothing."""
        self._check(actor)
        with self._uow() as session:
            row = self._draft(session, digest_id)
            row.status, row.decided_at, row.decided_by = "published", self._clock(), actor
            now = self._clock()
            channel = row.publish_channel
            queues.enqueue_message(
                session=session, message=DigestPublish(digest_id=digest_id, channel=channel), now=now
            )
            count = len(repo.list_charts(session=session, digest_id=digest_id))
            uploads = DigestCharts.batches(
                digest_id=digest_id, channel=channel, target="publish", count=count, size=FILES_PER_UPLOAD_MAX
            )
            for upload in uploads:
                queues.enqueue_message(session=session, message=upload, now=now)
            self._refresh(session, row)
            return row

    def discard(self, *, digest_id: int, actor: str) -> Digest:
        """Drop a draft; the period stays drafted (it is not drafted again)."""
        self._check(actor)
        with self._uow() as session:
            row = self._draft(session, digest_id)
            row.status, row.decided_at, row.decided_by = "discarded", self._clock(), actor
            self._refresh(session, row)
            return row

    def get(self, *, digest_id: int) -> Digest:
        """One digest."""
        with self._uow() as session:
            row = repo.get_digest(session=session, digest_id=digest_id)
            if row is None:
                raise NotFound(f"No digest {digest_id}.")
            return row

    def _zone(self, row: Digest) -> str:
        digest = self._policies.current.digest
        if row.kind == "risk-report" and digest.risk_report is not None:
            return digest.risk_report.timezone
        return digest.weekly.timezone

    def _check(self, actor: str) -> None:
        policy = self._policies.current
        if not policy.permits(action=Action.PUBLISH_DIGEST, user=actor):
            allowed = ", ".join(policy.permissions.get(Action.PUBLISH_DIGEST, ()))
            raise PermissionDenied(f"Only {allowed} may publish, edit or discard a digest (policy {policy.version}).")

    @staticmethod
    def _draft(session: Session, digest_id: int) -> Digest:
        row = repo.get_digest(session=session, digest_id=digest_id, for_update=True)
        if row is None:
            raise NotFound(f"No digest {digest_id}.")
        if row.status != "draft":
            raise InvalidInput(f"This digest is already {row.status}; nothing was changed.", field="status")
        return row

    def _refresh(self, session: Session, row: Digest) -> None:
        assert row.id is not None
        refresh = DigestRefresh(digest_id=row.id, channel=row.review_channel)
        queues.enqueue_message(session=session, message=refresh, now=self._clock())

    def _collect(self, session: Session, period: Period, policy: Policy) -> DigestInput:
        return collect(session=session, period=period, policy=policy, generated_at=self._clock())
