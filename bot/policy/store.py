"""The active policy: loaded at start, reloaded when the file changes, never replaced by a broken file."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.common.clock import Clock
from bot.common.messages import PolicyRefusedNotice
from bot.policy.document import Policy
from bot.policy.loader import load_policy, parse_policy, validate_policy_file
from bot.policy.values import PolicyError, Problem
from db import queues
from db import repositories as repo
from db.engine import UnitOfWork
from db.models import PolicyVersion

# policies/ is at the root of a source checkout (parents[2]); a wheel ships it inside the package (bot/, parents[1]).
BUNDLED_POLICY = (
    next(
        (base / "policies" for base in Path(__file__).resolve().parents[1:3] if (base / "policies").is_dir()),
        Path(__file__).resolve().parents[2] / "policies",
    )
    / "default.yaml"
)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: 'unchanged', 'loaded' or 'refused' (with the problems)."""

    outcome: str
    problems: tuple[Problem, ...] = ()


class PolicyStore:
    """Holds the policy in force; reload() swaps it only for a file that passes every check."""

    def __init__(self, *, path: str | Path | None, uow: UnitOfWork, clock: Clock) -> None:
        self.path = Path(path) if path else BUNDLED_POLICY
        self._uow = uow
        self._clock = clock
        self._lock = threading.Lock()
        self._refused_hash = ""
        self._current = load_policy(self.path)
        self._remember(self._current)

    @property
    def current(self) -> Policy:
        """The policy in force now."""
        return self._current

    def reload(self) -> ReloadResult:
        """Re-read the file; keep the old policy and tell the admins when the new one is broken."""
        with self._lock:
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                return self._refuse([Problem(str(self.path), 0, f"cannot read the policy file: {exc}")], str(exc))
            digest = hashlib.sha256(raw).hexdigest()
            if digest == self._current.content_hash:
                return ReloadResult("unchanged")
            if digest == self._refused_hash:
                return ReloadResult("refused")
            policy, problems = validate_policy_file(self.path)
            if policy is None:
                return self._refuse(problems, digest)
            # Stored first: a process following this one (`follow`) finds the version as soon as it is in force.
            self._remember(policy)
            self._current = policy
            self._refused_hash = ""
            log.info("policy %s loaded from %s", policy.version, self.path)
            return ReloadResult("loaded")

    def follow(self, content_hash: str) -> None:
        """Put in force the version another process of this bot has in force, as stored when it loaded it.

        The listener process follows serve's policy this way (bot/app/listener_process.py): it never reads the file
        itself, so it can neither disagree with serve nor tell the admins a second time that a file was refused.
        """
        if content_hash == self._current.content_hash:
            return
        with self._lock:
            if content_hash == self._current.content_hash:
                return
            with self._uow.read() as session:
                stored = repo.get_policy_version(session=session, content_hash=content_hash)
            if stored is None:
                # Not committed yet (serve swaps, then stores): the next request follows it.
                log.warning("policy %s is not stored yet; keeping version %s", content_hash[:12], self._current.version)
                return
            self._current = parse_policy(stored.content, filename=stored.source, content_hash=content_hash)
            log.info("policy %s followed (stored from %s)", self._current.version, stored.source)

    def _refuse(self, problems: list[Problem], digest: str) -> ReloadResult:
        self._refused_hash = digest
        log.error("policy file %s refused; keeping version %s", self.path, self._current.version)
        listed = tuple(str(problem) for problem in problems)
        now = self._clock()
        with self._uow() as session:
            for admin in self._current.admins:
                notice = PolicyRefusedNotice(
                    admin=admin, path=str(self.path), version=self._current.version, problems=listed
                )
                queues.enqueue_message(session=session, message=notice, now=now)
        return ReloadResult("refused", tuple(problems))

    def _remember(self, policy: Policy) -> None:
        with self._uow() as session:
            if repo.get_policy_version(session=session, content_hash=policy.content_hash) is None:
                repo.add_policy_version(
                    session=session,
                    policy_version=PolicyVersion(
                        version=policy.version,
                        content_hash=policy.content_hash,
                        source=str(self.path),
                        content=self.path.read_text(encoding="utf-8"),
                        loaded_at=self._clock(),
                    ),
                )


__all__ = ["BUNDLED_POLICY", "PolicyError", "PolicyStore", "ReloadResult"]
