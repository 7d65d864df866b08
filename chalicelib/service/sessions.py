"""Sessions (R4) and logins (R5) of the web/app SDK."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..domain import writes as w
from ..domain.devices import device_handle, is_handle, listed_devices, new_veil_id
from ..domain.errors import Unauthorized
from ..domain.models import Channel, Device, LoginRecord, ProfileValue, Trigger, Unification, User, UserType
from ..domain.preview import shown
from ..domain.profile import Consent, apply_profile, type_after_contact
from ..domain.timefmt import iso
from ..secrets import matches
from .deps import Deps
from .lookup import current_user
from .ports import Found
from .retry import FirstThenReload, retrying
from .unify import prepare_unification

MAX_TOKENS_PER_SESSION = 20
Profile = Mapping[str, ProfileValue | None]
HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SessionView:
    device: Device
    user: User
    token: str | None = None
    unification: Unification | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(veil_id: str) -> str:
    """`<device handle>.<256 random bits>`: names its device without revealing its veilId."""
    return f"{device_handle(veil_id)}.{secrets.token_urlsafe(32)}"


def handle_of(token: str) -> str | None:
    head, _, secret = token.partition(".")
    return head if secret and is_handle(head) else None


def check_member_hash(secrets: tuple[str, ...], member_id: str, member_hash: str | None) -> None:
    """R5.4: with a member secret configured, a login needs hex HMAC-SHA256(secret, memberId):
    64 hex digits, in either case (hex is case-free); nothing else around them. During a
    rotation the previous secret's hash verifies too (infra/README.md)."""
    if not secrets:
        return
    expected = tuple(hmac.new(s.encode(), member_id.encode(), hashlib.sha256).hexdigest() for s in secrets)
    well_formed = member_hash is not None and HEX_SHA256.fullmatch(member_hash) is not None
    if not well_formed or not matches(str(member_hash).lower(), expected):
        raise Unauthorized("memberHash does not verify this memberId")


@dataclass
class _Draft:
    """A session being planned: the device, its user, and their stored versions.

    `user_expected` is None for a user not stored yet; `user_dirty` says the
    user must be written. The store writes every versioned item at expected + 1.
    """

    device: Device
    device_expected: int | None
    user: User | None
    user_expected: int | None
    continuing: bool
    user_dirty: bool = False
    unification: Unification | None = None
    extra: list[w.Write] = field(default_factory=list)
    returning: bool = False  # a new session of the device's own stored user (R4.3)


class Sessions:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # boot (R4, R5.1) -----------------------------------------------------

    def boot(
        self,
        veil_id: str | None,
        member_id: str | None,
        member_hash: str | None,
        profile: Profile,
        consent: Consent = Consent(),
    ) -> SessionView:
        """Start or continue the device's session (R4); with `member_id`, a login (R5).

        veilIds are the service's own: one it never issued (no such device) is
        replaced by a new one, which the answer carries."""
        if member_id is not None:
            check_member_hash(self.deps.settings.member_hash_secrets, member_id, member_hash)
        store = self.deps.store
        stored: Device | None = None
        if veil_id is not None and member_id is None and not profile and not consent.given:
            # A returning device, read eventually consistent (half the read units; one
            # not seen is asked again consistently). A live session is extended in one
            # conditional write, the common case; an ended one (or a failed extension,
            # which hands back the device) goes the usual way below, where every write
            # is conditional on the version read, so a stale read is a retry, never a
            # lost write. (A boot that also writes the profile goes the usual way: one
            # transaction, so that a refused profile changes nothing.)
            now, token = self.deps.clock.now(), new_token(veil_id)
            handle = device_handle(veil_id)
            stored = store.get_device(handle, consistent=False) or store.get_device(handle)
            if stored is not None and stored.live(now) and len(stored.token_hashes) < MAX_TOKENS_PER_SESSION:
                extended, stored = store.extend_session(
                    handle, hash_token(token), now, now + self.deps.session_timeout, MAX_TOKENS_PER_SESSION
                )
                if extended and stored is not None:
                    continued = self._continue(stored, token)
                    if continued is not None:
                        return continued
        elif veil_id is not None:
            stored = store.get_device(device_handle(veil_id))
        veil = stored.veil_id if stored is not None else new_veil_id()
        token = new_token(veil)
        device = FirstThenReload(stored, functools.partial(store.get_device, device_handle(veil)))
        return retrying(lambda: self._boot_once(veil, token, member_id, profile, consent, device.get()))

    def _continue(self, device: Device, token: str) -> SessionView | None:
        """The rest of a boot whose live session was just extended (R4.1): the same user,
        or the member it was unified into (R4.4). None when the device has no user."""
        user = self._current_user(device.user_id)
        if user is None:
            return None
        if user.id != device.user_id:
            # The device follows its user into the member; if it changed meanwhile, the
            # next session call still follows the unification (R4.4).
            moved = device.model_copy(update={"user_id": user.id, "version": device.version + 1})
            with contextlib.suppress(w.WriteConflict):
                self.deps.store.commit([w.SaveDevice(moved, device.version)])
        return SessionView(device=device, user=user, token=token)

    def _boot_once(
        self, veil: str, token: str, member_id: str | None, profile: Profile, consent: Consent, device: Device | None
    ) -> SessionView:
        now = self.deps.clock.now()
        expires = now + self.deps.session_timeout
        token_hash = hash_token(token)
        found: Found | None = None
        user: User | None = None
        # A live device whose user is gone (erased, R11.2) starts over like an ended one.
        if device is not None and device.live(now):
            # Same session: the device keeps its user (R4.1), or the member it was unified into (R4.4).
            found = self.deps.store.read_together(users=[device.user_id], members=[member_id] if member_id else [])
            user = self._current_user(device.user_id, found)
        if device is not None and device.live(now) and (user is not None or not device.user_id):
            draft = _Draft(
                device=device.model_copy(
                    update={
                        "user_id": user.id if user else device.user_id,
                        "token_hashes": (*device.token_hashes[-(MAX_TOKENS_PER_SESSION - 1) :], token_hash),
                        "expires_at": expires,
                        "version": device.version + 1,
                    }
                ),
                device_expected=device.version,
                user=user,
                user_expected=user.version if user else None,
                continuing=True,
            )
        else:
            draft = self._new_session(veil, device, token_hash, now, member_id)
        already_in = draft.continuing and draft.device.logged_in and draft.device.member_id == member_id
        if member_id is not None and not already_in:
            self._plan_login(draft, member_id, profile, consent, now, found)
        else:
            self._plan_profile(draft, profile, consent, now)
        return self._commit(draft, token)

    def _new_session(
        self, veil: str, device: Device | None, token_hash: str, now: datetime, member_id: str | None
    ) -> _Draft:
        """R4.3: after a session ends, the device's un-unified anonymous user or lead
        comes back; anyone else starts over (or, with a memberId, logs in)."""
        prior = self.deps.store.get_user(device.user_id) if device else None
        returning = prior is not None and not prior.is_unified
        user: User | None = None
        if prior is not None and returning:
            un_unified_visitor = prior.type in (UserType.ANONYMOUS, UserType.LEAD)
            same_member = member_id is not None and prior.member_id == member_id
            user = prior if un_unified_visitor or same_member else None
        if user is None and member_id is None:
            user = self._new_anonymous(now)
            user_expected = None
        else:
            user_expected = user.version if user else None
        if user is not None:
            user = user.changed(now, visited=True, last_seen_at=now, veil_ids=listed_devices(user.veil_ids, veil))
        new_device = Device(
            veil_id=veil,
            session_id=self.deps.clock.new_id("s_"),
            user_id=user.id if user else "",
            token_hashes=(token_hash,),
            started_at=now,
            expires_at=now + self.deps.session_timeout,
            version=device.version + 1 if device else 0,
        )
        return _Draft(
            device=new_device,
            device_expected=device.version if device else None,
            user=user,
            user_expected=user_expected,
            continuing=False,
            user_dirty=user is not None,
            returning=user is not None and user_expected is not None and device is not None,
        )

    def _new_anonymous(self, now: datetime) -> User:
        return User(
            id=self.deps.clock.new_id("u_"),
            type=UserType.ANONYMOUS,
            channel=Channel.WEB,
            visited=True,
            created_at=now,
            updated_at=now,
        )

    def _current_user(self, user_id: str, found: Found | None = None) -> User | None:
        return current_user(self.deps.store, user_id, found)

    # login (R5) -------------------------------------------------------------

    def login(
        self, token: str, member_id: str, member_hash: str | None, profile: Profile, consent: Consent = Consent()
    ) -> SessionView:
        check_member_hash(self.deps.settings.member_hash_secrets, member_id, member_hash)
        touched = self.authenticate(token)
        device = FirstThenReload[Device | None](touched, lambda: self.deps.store.get_device(touched.handle))
        return retrying(lambda: self._login_once(device.get(), member_id, profile, consent))

    def _login_once(self, device: Device | None, member_id: str, profile: Profile, consent: Consent) -> SessionView:
        now = self.deps.clock.now()
        if device is None or not device.live(now):
            raise Unauthorized("the session has ended")
        found = self.deps.store.read_together(users=[device.user_id], members=[member_id])
        user = self._current_user(device.user_id, found)
        draft = _Draft(
            device=device.model_copy(update={"version": device.version + 1, "user_id": user.id if user else ""}),
            device_expected=device.version,
            user=user,
            user_expected=user.version if user else None,
            continuing=True,
        )
        self._plan_login(draft, member_id, profile, consent, now, found)
        return self._commit(draft, None)

    def _plan_login(
        self, draft: _Draft, member_id: str, profile: Profile, consent: Consent, now: datetime, found: Found | None
    ) -> None:
        """R5.1-R5.3: unify into the existing member, convert in place, or switch.
        `found` holds the memberId's claim when it was read with the session's user."""
        store = self.deps.store
        current = draft.user
        member_uid = found.member_user_ids.get(member_id) if found is not None else store.get_member_user_id(member_id)
        if current is not None and current.id == member_uid:
            member: User | None = current  # R5.3: already this member
        else:
            member = store.get_user(member_uid) if member_uid else None
        unifiable = (
            current is not None
            and draft.user_expected is not None
            and current.type in (UserType.ANONYMOUS, UserType.LEAD)
        )
        target: User
        target_expected: int | None
        if current is not None and current.member_id == member_id:
            # R5.3: already this member.
            target, target_expected = current, draft.user_expected
        elif member is not None and unifiable:
            # R5.1: the session's user is unified into the existing member at once.
            assert current is not None and draft.user_expected is not None
            commit = prepare_unification(self.deps, current, member, Trigger.LOGIN)
            # The source as planned here already carries this session's changes: its stored version is ours.
            commit.source_expected = draft.user_expected
            draft.unification = shown(commit.record, commit.source, commit.target)
            draft.extra.extend(commit.writes(with_target=False))
            target, target_expected = commit.target, member.version
        elif member is not None:
            # A new device, or another member's session: continue as member X (R5.1, R5.3).
            target, target_expected = member, member.version
        elif unifiable:
            # R5.2: no member X yet: this very user becomes member X.
            assert current is not None
            target = current.model_copy(update={"type": UserType.MEMBER, "member_id": member_id})
            target_expected = draft.user_expected
            draft.extra.append(w.ClaimMember(member_id, target.id))
        else:
            target = User(
                id=self.deps.clock.new_id("u_"),
                type=UserType.MEMBER,
                channel=Channel.WEB,
                member_id=member_id,
                visited=True,
                created_at=now,
                updated_at=now,
            )
            target_expected = None
            draft.extra.append(w.ClaimMember(member_id, target.id))
        target = target.model_copy(
            update={
                "fields": apply_profile(target, profile, verified=False, now=now),
                **consent.applied(target),
                "last_login_at": now,
                "last_seen_at": now,
                "visited": True,
                "updated_at": now,
                "veil_ids": listed_devices(target.veil_ids, draft.device.veil_id),
            }
        )
        draft.user, draft.user_expected, draft.user_dirty = target, target_expected, True
        draft.device = draft.device.model_copy(update={"user_id": target.id, "logged_in": True, "member_id": member_id})
        login = LoginRecord(
            id=self.deps.clock.new_id("l_"),
            user_id=target.id,
            member_id=member_id,
            session_id=draft.device.session_id,
            at=now,
        )
        draft.extra.append(w.PutLogin(login))

    def _plan_profile(self, draft: _Draft, profile: Profile, consent: Consent, now: datetime) -> None:
        """Customer-typed values are unverified (R1.4) and never beat verified ones (R1.6);
        the customer's own consent flags are taken as given."""
        user = draft.user
        if user is None or not (profile or consent.given):
            return
        fields = apply_profile(user, profile, verified=False, now=now)
        flags = consent.applied(user)
        if fields != user.fields or any(getattr(user, k) != v for k, v in flags.items()):
            new_type = type_after_contact(user.type, fields)
            draft.user = user.model_copy(update={"fields": fields, "type": new_type, "updated_at": now, **flags})
            draft.user_dirty = True

    def _commit(self, draft: _Draft, token: str | None) -> SessionView:
        writes: list[w.Write] = [w.SaveDevice(draft.device, draft.device_expected)]
        user = draft.user
        assert user is not None
        if draft.user_dirty:
            writes.append(w.SaveUser(user, draft.user_expected))
        writes.extend(draft.extra)
        view = SessionView(device=draft.device, user=user, token=token, unification=draft.unification)
        store = self.deps.store
        first_visit = draft.device_expected is None and draft.user_expected is None and draft.user_dirty
        if first_visit and not draft.extra and store.put_new_visitor(draft.device, user):
            return view
        if draft.returning and draft.user_dirty and not draft.extra:
            # A returning visitor's new session: the user (its visit noted), then the device
            # pointing at it, each a conditional write of its own (a transaction bills twice,
            # DESIGN rule 7). Either alone is a state the next boot continues from: the user
            # already holds this device, and a device refused here is read again by the retry.
            store.commit(writes[1:])
            store.commit(writes[:1])
        else:
            store.commit(writes)
        return view

    # session calls -----------------------------------------------------------

    def authenticate(self, token: str) -> Device:
        """The session of a bearer token, counting the call as activity (R4.1)."""
        handle = handle_of(token)
        if handle is None:
            raise Unauthorized("the session token is not valid")
        now = self.deps.clock.now()
        device = self.deps.store.touch_device(handle, hash_token(token), iso(now), iso(now + self.deps.session_timeout))
        if device is None:
            raise Unauthorized("the session token is not valid or the session has ended")
        return device

    def session_user(self, device: Device) -> User:
        """The session's user; if it was unified meanwhile, the member (R4.4)."""
        user = self._current_user(device.user_id)
        if user is None:
            raise Unauthorized("the session has no user")
        return user

    def current(self, token: str) -> SessionView:
        device = self.authenticate(token)
        return SessionView(device=device, user=self.session_user(device))

    def logout(self, token: str) -> SessionView:
        """R4.2: the member stays the session's user until the session ends."""
        device = self.authenticate(token)

        def once() -> SessionView:
            current = self.deps.store.get_device(device.handle)
            assert current is not None
            if current.logged_in:
                updated = current.model_copy(update={"logged_in": False, "version": current.version + 1})
                self.deps.store.commit([w.SaveDevice(updated, current.version)])
                current = updated
            return SessionView(device=current, user=self.session_user(current))

        return retrying(once)
