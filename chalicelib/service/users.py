"""Open API users: members by memberId (R9.1), leads by profile (R9.2), manager edits (R7.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..domain import writes as w
from ..domain.contacts import CONTACT_FIELDS
from ..domain.errors import InvalidRequest, NotFound
from ..domain.models import Channel, ProfileValue, Trigger, Unification, User, UserType
from ..domain.profile import Consent, apply_profile, contacts_changed, type_after_contact
from .deps import Deps
from .lookup import resolve_user, writable_user
from .ports import Receipt, receipt_writes
from .retry import retrying
from .unifications import ContactIndex, Unifications

Profile = Mapping[str, ProfileValue | None]
__all__ = ["Consent", "UserWrite", "Users"]


@dataclass(frozen=True)
class UserWrite:
    user: User
    created: bool = False
    candidate: Unification | None = None


class Users:
    def __init__(self, deps: Deps, unifications: Unifications) -> None:
        self.deps = deps
        self.unifications = unifications

    def upsert_member(
        self, member_id: str, profile: Profile, consent: Consent, channel: Channel = Channel.API
    ) -> UserWrite:
        """R9.1: create or update member `member_id` at once; values are verified."""

        def once() -> UserWrite:
            store = self.deps.store
            user_id = store.get_member_user_id(member_id)
            existing = writable_user(store, user_id) if user_id is not None else None
            user, writes = self.plan_member(member_id, profile, consent, existing, channel)
            store.commit(writes)
            return UserWrite(user, created=existing is None)

        return retrying(once)

    def plan_member(
        self, member_id: str, profile: Profile, consent: Consent, existing: User | None, channel: Channel
    ) -> tuple[User, list[w.Write]]:
        """The member after an upsert by memberId, and its writes (R9.1, R8.2)."""
        if not member_id or len(member_id) > 1000:
            raise InvalidRequest("memberId must be 1-1000 characters", field="memberId")
        now = self.deps.clock.now()
        if existing is not None:
            fields = apply_profile(existing, profile, verified=True, now=now)
            updated = existing.changed(now, fields=fields, **consent.applied(existing))
            return updated, [w.SaveUser(updated, existing.version)]
        user = User(
            id=self.deps.clock.new_id("u_"),
            type=UserType.MEMBER,
            channel=channel,
            member_id=member_id,
            created_at=now,
            updated_at=now,
        )
        user = user.model_copy(
            update={"fields": apply_profile(user, profile, verified=True, now=now), **consent.applied(user)}
        )
        return user, [w.SaveUser(user, None), w.ClaimMember(member_id, user.id)]

    def get_member(self, member_id: str) -> User:
        user_id = self.deps.store.get_member_user_id(member_id)
        if user_id is None:
            raise NotFound(f"no member {member_id}")
        user, _ = resolve_user(self.deps.store, user_id)
        return user

    def create_lead(
        self,
        profile: Profile,
        consent: Consent,
        channel: Channel = Channel.API,
        trigger: Trigger = Trigger.OPEN_API,
        receipt: Receipt | None = None,
    ) -> UserWrite:
        """R9.2: creating by profile always makes a lead; values are verified, and a
        lead whose contact matches a member yields a candidate (R6.3, R7.2)."""
        return retrying(
            lambda: self._save_with_candidate(self.plan_lead(profile, consent, channel), None, trigger, None, receipt)
        )

    def plan_lead(self, profile: Profile, consent: Consent, channel: Channel) -> User:
        now = self.deps.clock.now()
        user = User(
            id=self.deps.clock.new_id("u_"), type=UserType.LEAD, channel=channel, created_at=now, updated_at=now
        )
        return user.model_copy(
            update={"fields": apply_profile(user, profile, verified=True, now=now), **consent.applied(user)}
        )

    def _save_with_candidate(
        self,
        user: User,
        expected: int | None,
        trigger: Trigger,
        listed: ContactIndex | None = None,
        receipt: Receipt | None = None,
    ) -> UserWrite:
        writes: list[w.Write] = []
        candidate = None
        match = self.unifications.match(user, listed)
        if match is not None:
            member, matched_on = match
            proposal = self.unifications.candidate(user, member, trigger, matched_on)
            user, candidate, writes = proposal.source, proposal.unification, proposal.writes
        result = UserWrite(user, created=expected is None, candidate=candidate)
        subjects = [user.id, *([candidate.target_user_id] if candidate else [])]
        self.deps.store.commit([w.SaveUser(user, expected), *writes, *receipt_writes(receipt, result, *subjects)])
        return result

    def get(self, user_id: str, resolve: bool = True) -> tuple[User, str | None]:
        if not resolve:
            user = self.deps.store.get_user(user_id)
            if user is None:
                raise NotFound(f"no user {user_id}")
            return user, None
        return resolve_user(self.deps.store, user_id)

    def search(self, field: str, value: str, limit: int) -> list[User]:
        """R9.3: un-unified users by normalized contact value or memberId."""
        if field == "memberId":
            user_id = self.deps.store.get_member_user_id(value)
            user = self.deps.store.get_user(user_id) if user_id else None
            return [user] if user is not None and not user.is_unified else []
        return self.deps.store.users_holding(field, value, limit)

    def edit(self, user_id: str, profile: Profile, consent: Consent) -> UserWrite:
        """R7.1: a manager's edit; the values become verified. A real change of an
        anonymous user's or lead's contact info is matched against members (R6.3)."""

        # The members' index entries of the contact values typed in are read with the user.
        typed = [(f, v) for f in CONTACT_FIELDS if isinstance(v := profile.get(f), str) and v]

        def once() -> UserWrite:
            store, now = self.deps.store, self.deps.clock.now()
            found = store.read_together(users=[user_id], contacts=typed)
            user = writable_user(store, user_id, found)
            fields = apply_profile(user, profile, verified=True, now=now)
            updated = user.changed(
                now, fields=fields, type=type_after_contact(user.type, fields), **consent.applied(user)
            )
            if user.type is not UserType.MEMBER and contacts_changed(user, fields):
                result = self._save_with_candidate(updated, user.version, Trigger.MANAGER_EDIT, found.contact_members)
                return UserWrite(result.user, candidate=result.candidate)
            store.commit([w.SaveUser(updated, user.version)])
            return UserWrite(updated)

        return retrying(once)
