"""Generated display names (R1.5): a word and three digits, stable per user."""

from __future__ import annotations

import hashlib

WORDS = (
    "Mango",
    "Kiwi",
    "Apple",
    "Peach",
    "Lemon",
    "Melon",
    "Cherry",
    "Grape",
    "Plum",
    "Fig",
    "Lime",
    "Pear",
    "Banana",
    "Papaya",
    "Guava",
    "Olive",
    "Yuzu",
    "Apricot",
    "Coconut",
    "Berry",
)


def generated_label(user_id: str) -> str:
    """Derive the label from the id, so it never changes and needs no storage."""
    digest = hashlib.sha256(user_id.encode()).digest()
    word = WORDS[digest[0] % len(WORDS)]
    number = int.from_bytes(digest[1:3], "big") % 900 + 100
    return f"{word}{number}"
