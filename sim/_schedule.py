"""Schedules as data, and the tokens that carry them between processes and people.

A schedule is the list of *decisions* the controlled scheduler made: at every point where more than
one model task could run, the index of the chosen task in the runnable list (sorted by spawn order),
together with that task's name. The name is redundant for replay and there on purpose: when the code
under test changes, a replay notices the drift at the exact decision where the chosen task is no
longer the one recorded, instead of silently running something else (see ``ReplayDivergence``).

A token is ``rs1.<fingerprint>.<payload>``: the format version, a short hash of the scenario's
identity and parameters, and the decisions compressed with zlib and written in lowercase base32
(copy-pasteable: no ``+``, ``/`` or ``=``). A token whose fingerprint is not the scenario's is refused
with :class:`TokenMismatch` before anything runs.
"""

from __future__ import annotations

import base64
import binascii
import zlib

import attrs

TOKEN_VERSION = "rs1"


class TokenError(ValueError):
    """The text is not a racesim token (truncated, mistyped, or another tool's)."""


class TokenMismatch(TokenError):
    """The token was made for another scenario, or another version of this one."""


@attrs.frozen
class Decision:
    """One choice: ``index`` into the runnable model tasks (spawn order), the chosen ``task``'s name,
    how many tasks were runnable, and the index of the task that ran last if it was still runnable
    (``None`` otherwise). Choosing another task than ``previous`` is a preemption."""

    index: int
    task: str
    choices: int = 0
    previous: int | None = None

    @property
    def is_preemption(self) -> bool:
        return self.previous is not None and self.index != self.previous


@attrs.frozen
class Schedule:
    decisions: tuple[Decision, ...] = ()
    mode: str = "free"
    explore_time: bool = False

    def __len__(self) -> int:
        return len(self.decisions)

    @property
    def preemptions(self) -> int:
        return sum(decision.is_preemption for decision in self.decisions)

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(decision.index for decision in self.decisions)

    def encode(self, fingerprint: str) -> str:
        """The token for this schedule of the scenario with ``fingerprint``."""
        names: list[str] = []
        slots: dict[str, int] = {}
        numbers: list[int] = []
        for decision in self.decisions:
            slot = slots.setdefault(decision.task, len(names))
            if slot == len(names):
                names.append(decision.task)
            numbers += (decision.index, slot)
        body = bytearray()
        _varints(body, [len(names)])
        for name in names:
            raw = name.encode()
            _varints(body, [len(raw)])
            body += raw
        _varints(body, [len(self.decisions), *numbers])
        packed = zlib.compress(bytes(body), 9)
        flags = (self.mode == "batch") | (self.explore_time << 1)
        if len(packed) < len(body):
            flags |= 4
            body = bytearray(packed)
        payload = base64.b32encode(bytes([flags]) + bytes(body)).decode().rstrip("=").lower()
        return f"{TOKEN_VERSION}.{fingerprint}.{payload}"


def _varints(out: bytearray, values: list[int]) -> None:
    for value in values:
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.data[self.position]
            self.position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def text(self) -> str:
        size = self.varint()
        raw = self.data[self.position : self.position + size]
        if len(raw) != size:
            raise ValueError("truncated")
        self.position += size
        return raw.decode()


def split_token(token: str) -> tuple[str, str]:
    """``(fingerprint, payload)`` of a token, or :class:`TokenError` saying what is wrong."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenError(
            f"{token[:40]!r} is not a racesim token: expected '{TOKEN_VERSION}.<fingerprint>."
            "<payload>' as printed by 'racesim explore' or a failing test; copy it whole"
        )
    version, fingerprint, payload = parts
    if version != TOKEN_VERSION:
        raise TokenError(
            f"token format {version!r} is not supported by this racesim (it reads "
            f"{TOKEN_VERSION!r}); replay it with the racesim version that printed it"
        )
    return fingerprint, payload


def decode(token: str, fingerprint: str | None = None) -> Schedule:
    """The schedule in ``token``; checks it was made for ``fingerprint`` when one is given."""
    token_fingerprint, payload = split_token(token)
    if fingerprint is not None and token_fingerprint != fingerprint:
        raise TokenMismatch(
            f"this token was recorded for scenario version {token_fingerprint}, but the scenario "
            f"is now version {fingerprint} (its code or parameters changed); re-run "
            "'racesim explore' to get a token for the current version"
        )
    try:
        raw = base64.b32decode(payload.upper() + "=" * (-len(payload) % 8))
        flags, body = raw[0], raw[1:]
        if flags & 4:
            body = zlib.decompress(body)
        reader = _Reader(body)
        names = [reader.text() for _ in range(reader.varint())]
        count = reader.varint()
        decisions = []
        for _ in range(count):
            index = reader.varint()
            decisions.append(Decision(index, names[reader.varint()]))
        if reader.position != len(body):
            raise ValueError("trailing data")
        mode = "batch" if flags & 1 else "free"
        explore_time = bool(flags & 2)
    except (binascii.Error, zlib.error, ValueError, IndexError, UnicodeDecodeError):
        raise TokenError(
            "the token's payload is damaged (was it cut when copied?); copy the whole token"
        ) from None
    return Schedule(tuple(decisions), mode=mode, explore_time=explore_time)


def token_fingerprint(token: str) -> str:
    return split_token(token)[0]
