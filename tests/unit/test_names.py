"""R1.5: generated display names (a word and three digits, stable per user) and `User.display_name`."""

from __future__ import annotations

import re

import pytest
from unit_factories import NOW, anonymous, fv, lead, member

from chalicelib.domain.models import User
from chalicelib.domain.names import WORDS, generated_label
from chalicelib.domain.profile import apply_profile

LABEL = re.compile(rf"^({'|'.join(WORDS)})([0-9]{{3}})$")


@pytest.mark.parametrize(
    "user_id",
    ["u-1", "anon-1", "lead-kiwi", "01HX0000000000000000000000", "", "山田", "x" * 500],
    ids=[
        "R1.5-label-short-id",
        "R1.5-label-anonymous-id",
        "R1.5-label-lead-id",
        "R1.5-label-ulid-like-id",
        "R1.5-label-empty-id",
        "R1.5-label-non-ascii-id",
        "R1.5-label-long-id",
    ],
)
def test_generated_label_is_word_and_three_digits(user_id: str) -> None:
    label = generated_label(user_id)
    match = LABEL.match(label)
    assert match is not None, label
    assert 100 <= int(match.group(2)) <= 999


def test_generated_label_is_stable_for_an_id() -> None:
    ids = [f"user-{i}" for i in range(50)]
    assert [generated_label(i) for i in ids] == [generated_label(i) for i in ids]


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [("anon-1", "Cherry716"), ("lead-kiwi", "Banana989"), ("u-1", "Apple271")],
    ids=["R1.5-label-pinned-anon-1", "R1.5-label-pinned-lead-kiwi", "R1.5-label-pinned-u-1"],
)
def test_generated_label_does_not_drift(user_id: str, expected: str) -> None:
    """Messages show the label as it was (R3.4): the derivation must never change silently."""
    assert generated_label(user_id) == expected


def test_generated_labels_spread_over_words_and_numbers() -> None:
    labels = [generated_label(f"user-{i}") for i in range(500)]
    words = {LABEL.match(label).group(1) for label in labels}  # type: ignore[union-attr]
    assert len(words) >= len(WORDS) - 2
    assert len(set(labels)) >= 450


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (member(fields={"name": fv("山田太郎", verified=True)}), "山田太郎"),
        (lead(fields={"name": fv("Hanako")}), "Hanako"),
        (anonymous("anon-1"), generated_label("anon-1")),
        (lead("lead-2", fields={"email": fv("a@example.com")}), generated_label("lead-2")),
        (anonymous("anon-3", fields={"name": fv("   ")}), generated_label("anon-3")),
        (anonymous("anon-4", fields={"name": fv("")}), generated_label("anon-4")),
        (anonymous("anon-5", fields={"name": fv(42)}), generated_label("anon-5")),
    ],
    ids=[
        "R1.5-display-name-real-name-member",
        "R1.5-display-name-real-name-lead",
        "R1.5-display-name-label-when-no-name",
        "R1.5-display-name-label-when-only-contacts",
        "R1.5-display-name-label-when-blank-name",
        "R1.5-display-name-label-when-empty-name",
        "R1.5-display-name-label-when-name-not-text",
    ],
)
def test_display_name(user: User, expected: str) -> None:
    assert user.display_name == expected


def test_real_name_replaces_the_label() -> None:
    """Seed: Apple246 becomes Hanako Yamada when it logs in as a new member."""
    user = anonymous("apple")
    label = user.display_name
    assert LABEL.match(label)
    named = user.changed(NOW, fields=apply_profile(user, {"name": "山田花子"}, verified=False, now=NOW))
    assert named.display_name == "山田花子"
    assert named.display_name != label


def test_label_is_not_a_profile_value() -> None:
    user = anonymous("mango")
    assert user.profile == {}
    assert "name" not in user.fields
    assert user.verified_fields == []
