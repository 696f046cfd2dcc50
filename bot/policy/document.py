"""The whole policy document, with the checks that span its parts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    PrivateAttr,
    model_validator,
)

from bot.common.vocabulary import PERMISSIONS, Action
from bot.policy.model import Category, Framework, Metric, Route
from bot.policy.schedules import Alerts, Deadline, DigestPolicy, Reports, Role, Rotation, Snooze
from bot.policy.values import (
    EVERYONE,
    REQUIRED_ROLES,
    Loc,
    Slug,
    StrictModel,
    TimeZoneName,
    raise_if_any,
    timezone_value,
    unknown_name,
    zone,
)


class Policy(StrictModel):
    """A whole safety policy; build it with load_policy or parse_policy."""

    version: str = Field(min_length=1)
    name: str
    description: str = ""
    timezone: TimeZoneName
    frameworks: tuple[Framework, ...] = ()
    categories: Mapping[Slug, Category]
    metrics: tuple[Metric, ...] = ()
    routes: Mapping[Slug, Route]
    deadlines: Mapping[Slug, Deadline] = Field(default_factory=dict)
    rotations: Mapping[Slug, Rotation] = Field(default_factory=dict)
    roles: Mapping[Slug, Role]
    permissions: Mapping[Action, tuple[str, ...]] = Field(default_factory=dict)
    snooze: Snooze = Snooze()
    digest: DigestPolicy
    reports: Reports = Reports()
    alerts: Alerts = Alerts()

    _content_hash: str = PrivateAttr(default="")

    @model_validator(mode="before")
    @classmethod
    def _default_zones(cls, data: Any) -> Any:
        # Rotations and digests without their own zone use the policy's; filled in before validation so that
        # who_is_on_call needs nothing but the rotation.
        if not isinstance(data, dict) or not isinstance(data.get("timezone"), str):
            return data
        data = dict(data)
        try:
            default = timezone_value(data["timezone"])
        except ValueError:
            # The bad name is reported once, at `timezone:`; a stand-in keeps it from being repeated everywhere.
            default = "UTC"
        if isinstance(data.get("rotations"), dict):
            data["rotations"] = {
                key: ({"timezone": default, **value} if isinstance(value, dict) else value)
                for key, value in data["rotations"].items()
            }
        digest = data.get("digest")
        if isinstance(digest, dict):
            digest = dict(digest)
            for part in ("weekly", "risk_report"):
                if isinstance(digest.get(part), dict):
                    digest[part] = {"timezone": default, **digest[part]}
            data["digest"] = digest
        return data

    @model_validator(mode="after")
    def _references(self) -> Policy:
        raise_if_any("Policy", list(self._reference_issues()))
        return self

    def _reference_issues(self) -> Iterable[tuple[Loc, str]]:
        frameworks = [f.id for f in self.frameworks]
        for index, fid in enumerate(frameworks):
            if fid in frameworks[:index]:
                yield ("frameworks", index, "id"), f"duplicate framework id {fid!r}"
        for cid, category in self.categories.items():
            for fid in category.crosswalk:
                if fid not in frameworks:
                    yield ("categories", cid, "crosswalk", fid), unknown_name("framework", fid, frameworks)
            for name, level in category.levels.items():
                where: Loc = ("categories", cid, "levels", name.value)
                if level.route not in self.routes:
                    yield (*where, "route"), unknown_name("route", level.route, self.routes)
                elif category.restricted and not self.routes[level.route].private:
                    yield (
                        (*where, "route"),
                        (
                            f"category {cid!r} is restricted but route {level.route!r} is not private; "
                            "restricted details may only go to a private route"
                        ),
                    )
                for index, did in enumerate(level.deadlines):
                    if did not in self.deadlines:
                        yield (*where, "deadlines", index), unknown_name("deadline", did, self.deadlines)
                for fid in level.crosswalk:
                    if fid not in frameworks:
                        yield (*where, "crosswalk", fid), unknown_name("framework", fid, frameworks)
        seen: dict[str, int] = {}
        for index, metric in enumerate(self.metrics):
            if metric.id in seen:
                yield ("metrics", index, "id"), f"duplicate metric id {metric.id!r} (also metrics[{seen[metric.id]}])"
            seen.setdefault(metric.id, index)
            owner = self.categories.get(metric.category)
            if owner is None:
                yield (
                    ("metrics", index, "category"),
                    unknown_name("category", metric.category, self.categories, plural="categories"),
                )
                continue
            for name in metric.levels:
                if name not in owner.levels:
                    yield (
                        ("metrics", index, "levels", name.value),
                        (
                            f"category {metric.category!r} has no {name.value} level; it defines "
                            + ", ".join(n.value for n in category.defined_levels())
                        ),
                    )
        targets = {**{r: "role" for r in self.roles}, **{r: "rotation" for r in self.rotations}}
        for rid, route in self.routes.items():
            for step_index, step in enumerate(route.escalation):
                for index, target in enumerate(step.notify):
                    if target not in targets and not re.fullmatch(r"[UW][A-Z0-9]{2,}", target):
                        yield (
                            ("routes", rid, "escalation", step_index, "notify", index),
                            (
                                unknown_name("role or rotation", target, targets, plural="roles and rotations")
                                + "; or give a user id such as U0123ABCD"
                            ),
                        )
        for required in REQUIRED_ROLES:
            if required not in self.roles:
                yield (
                    ("roles",),
                    f"missing required role {required!r}; the policy must define " + ", ".join(REQUIRED_ROLES),
                )
        for role_id, role in self.roles.items():
            for index, rotation in enumerate(role.rotations):
                if rotation not in self.rotations:
                    yield ("roles", role_id, "rotations", index), unknown_name("rotation", rotation, self.rotations)
        for action, allowed in self.permissions.items():
            if action not in PERMISSIONS:
                granted = ", ".join(sorted(PERMISSIONS))
                yield (
                    ("permissions", action.value),
                    f"{action.value!r} is not something a person is granted; use {granted}",
                )
            for index, role_id in enumerate(allowed):
                if role_id != EVERYONE and role_id not in self.roles:
                    yield (
                        ("permissions", action.value, index),
                        (unknown_name("role", role_id, self.roles) + f"; or {EVERYONE!r}"),
                    )
        for did, deadline in self.deadlines.items():
            for fid in deadline.refs:
                if fid not in frameworks:
                    yield ("deadlines", did, "refs", fid), unknown_name("framework", fid, frameworks)
        if self.reports.default_category not in self.categories:
            yield (
                ("reports", "default_category"),
                unknown_name("category", self.reports.default_category, self.categories, plural="categories"),
            )
        yield from self._alert_issues()

    def _alert_issues(self) -> Iterable[tuple[Loc, str]]:
        rule = self.alerts.default
        where: Loc = ("alerts", "default")
        if rule.category is not None and rule.category not in self.categories:
            yield (*where, "category"), unknown_name("category", rule.category, self.categories, plural="categories")
        if rule.route is not None:
            category = self.categories.get(rule.category or self.reports.default_category)
            if rule.route not in self.routes:
                yield (*where, "route"), unknown_name("route", rule.route, self.routes)
            elif category is not None and category.restricted and not self.routes[rule.route].private:
                yield (
                    (*where, "route"),
                    f"the default category is restricted but route {rule.route!r} is not private; "
                    "restricted details may only go to a private route",
                )

    @property
    def content_hash(self) -> str:
        """The sha256 of the file this policy was read from (hex), so incidents can pin the exact text."""
        return self._content_hash

    @property
    def tz(self) -> ZoneInfo:
        """The policy's default time zone."""
        return zone(self.timezone)

    def metric(self, metric_id: str) -> Metric:
        """The metric with this id (KeyError if none)."""
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(metric_id)

    @property
    def admins(self) -> tuple[str, ...]:
        """Who hears about the bot's own troubles (a refused policy, a parked message, a broken set-up): the admin
        role's members and everyone in its rotations, as `roles_of` counts them."""
        role = self.roles["admin"]  # a required role: the model refuses a policy without it
        people = [*role.members, *(m for r in role.rotations for m in self.rotations[r].members)]
        return tuple(dict.fromkeys(people))

    def roles_of(self, user: str) -> frozenset[str]:
        """Every role the user holds, as a member or as a member of one of the role's rotations (on shift or not)."""
        return frozenset(
            role_id
            for role_id, role in self.roles.items()
            if user in role.members or any(user in self.rotations[r].members for r in role.rotations)
        )

    def permits(self, *, action: Action, user: str) -> bool:
        """Whether the user may take this action; an action not listed in `permissions` is open to everyone."""
        allowed = self.permissions.get(action)
        if allowed is None or EVERYONE in allowed:
            return True
        return bool(self.roles_of(user) & set(allowed))
