"""Helpers racesim is never told to instrument: their accesses are unseen."""

from __future__ import annotations


class Box:
    def __init__(self) -> None:
        self.value = 0


def read(box: Box) -> int:
    return box.value


def write(box: Box, value: int) -> None:
    box.value = value
