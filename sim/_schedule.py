"""Schedules as data, and the tokens that carry them between processes and people.

A schedule is the list of *decisions* the controlled scheduler made: at every point where more than
one model task could run, the index of the chosen task in the runnable list (sorted by spawn order),
together with that task's name. The name is redundant for replay and there on purpose: when the code
under test changes, a replay notices the drift at the exact decision where the chosen task is no
longer the one recorded, instead of silently running something else (see ``ReplayDivergence``).

A token is ``rs2.<identity>.<payload>``: the format version, a short hash of the scenario's
identity and parameters (:func:`sim._anchor.identity_of`), and a payload compressed with zlib and
written in lowercase base32 (copy-pasteable: no ``+``, ``/`` or ``=``). A token whose identity is
not the scenario's is refused with :class:`TokenMismatch` before anything runs.

``rs2`` anchors each decision on what it means, so a replay survives edits to the code (see
:mod:`sim.strategies.replay`): besides the index and task name, the :class:`~sim._anchor.Site` the
chosen task waited at, the site its step stopped at and (as a one-byte hash) the first
``sim.note`` label of that step.
The payload also carries the code the scenario ran (a hash per user file, :func:`code_table`) and
the failure it showed (kind and a hash of its message), so a replay can tell "reproduces" from
"a different failure" and name the files that changed. Sites are stored once in a table; a
typical shrunk failure's token stays a few hundred characters.

``rs1`` tokens (index and task name only, fingerprint = the scenario's source) still decode and
replay exactly; they cannot follow a changed scenario.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib

import attrs

TOKEN_VERSION = "rs1"
#: The version ``explore`` prints: decisions anchored on sites, code and failure recorded.
ANCHORED_VERSION = "rs2"
VERSIONS = (TOKEN_VERSION, ANCHORED_VERSION)


@attrs.frozen
class Site:
    """Where a task waits: ``file`` (base name) and ``line`` for people, ``key`` for matching
    (file, function and the line's text). ``Site.UNKNOWN`` when no user frame is on the stack."""

    file: str
    line: int
    key: int

    def describe(self) -> str:
        if self.key == 0:
            return "an unknown site"
        return f"{self.file}:{self.line}"


UNKNOWN = Site("?", 0, 0)
#: Where a task's step ends when the task exits (no line, a key no real site has).
EXIT = Site("exit", 0, 1 << 24)


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
    # rs2 anchors (None / "" when unknown); not part of equality: a schedule is the choices made
    site: Site | None = attrs.field(default=None, eq=False)  #: where the chosen task waited
    to_site: Site | None = attrs.field(default=None, eq=False)  #: where its step stopped
    label: str = attrs.field(default="", eq=False)  #: the first ``sim.note`` label of that step

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
        flags = (self.mode == "batch") | (self.explore_time << 1)
        return _pack(TOKEN_VERSION, fingerprint, flags, body)


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

    def fixed(self, size: int) -> int:
        raw = self.data[self.position : self.position + size]
        if len(raw) != size:
            raise ValueError("truncated")
        self.position += size
        return int.from_bytes(raw, "big")

    def text(self) -> str:
        size = self.varint()
        raw = self.data[self.position : self.position + size]
        if len(raw) != size:
            raise ValueError("truncated")
        self.position += size
        return raw.decode()


def _pack(version: str, fingerprint: str, flags: int, body: bytearray) -> str:
    packed = zlib.compress(bytes(body), 9)
    if len(packed) < len(body):
        flags |= 4
        body = bytearray(packed)
    payload = base64.b32encode(bytes([flags]) + bytes(body)).decode().rstrip("=").lower()
    return f"{version}.{fingerprint}.{payload}"


@attrs.frozen
class Anchored:
    """The contents of an ``rs2`` token: the schedule with its anchors, the code it ran, and the
    failure it showed."""

    identity: str
    schedule: Schedule
    code: tuple[tuple[int, int], ...] = ()  #: (file-name hash, code hash) per user file that ran
    kind: str = ""  #: the failure's kind ("" when the run passed)
    signature: int = 0  #: :func:`sim._anchor.failure_signature` of the failure

    def encode(self) -> str:
        strings: dict[str, int] = {}
        sites: dict[Site, int] = {}

        def string(text: str) -> int:
            return strings.setdefault(text, len(strings))

        def site(value: Site | None) -> int:
            if value is None:
                return 0
            return sites.setdefault(value, len(sites)) + 1

        decisions = self.schedule.decisions
        numbers: list[int] = []
        for number, decision in enumerate(decisions):
            following = next((d for d in decisions[number + 1 :] if d.task == decision.task), None)
            if decision.to_site is not None and following and following.site == decision.to_site:
                to = 1  # where the task's next recorded decision finds it: the usual case
            else:
                to = site(decision.to_site) + 1 if decision.to_site is not None else 0
            numbers += (
                decision.index,
                string(decision.task),
                site(decision.site),
                to,
                int(label_key(decision.label)[1:] or "0", 16),
            )
        kind = string(self.kind)
        for value in sites:
            string(value.file)
        body = bytearray()
        _varints(body, [len(strings)])
        for text in strings:
            raw = text.encode()
            _varints(body, [len(raw)])
            body += raw
        _varints(body, [len(self.code)])
        for name_hash, code_hash in self.code:
            body += name_hash.to_bytes(1, "big") + code_hash.to_bytes(2, "big")
        _varints(body, [kind])
        body += self.signature.to_bytes(4, "big")
        _varints(body, [len(sites)])
        for value in sites:
            _varints(body, [strings[value.file], value.line, value.key >> 16])
            body += (value.key & 0xFFFF).to_bytes(2, "big")
        _varints(body, [len(self.schedule.decisions), *numbers])
        flags = (self.schedule.mode == "batch") | (self.schedule.explore_time << 1)
        return _pack(ANCHORED_VERSION, self.identity, flags, body)


def _decode_anchored(identity: str, flags: int, reader: _Reader) -> Anchored:
    strings = [reader.text() for _ in range(reader.varint())]
    code = tuple((reader.fixed(1), reader.fixed(2)) for _ in range(reader.varint()))
    kind, signature = strings[reader.varint()], reader.fixed(4)
    sites = []
    for _ in range(reader.varint()):
        file, line, high = strings[reader.varint()], reader.varint(), reader.varint()
        sites.append(Site(file, line, (high << 16) | reader.fixed(2)))

    def site(number: int) -> Site | None:
        return sites[number - 1] if number else None

    decisions: list[Decision] = []
    same_as_next: list[int] = []
    for _ in range(reader.varint()):
        index, task, at, to, label = (reader.varint() for _ in range(5))
        if to == 1:
            same_as_next.append(len(decisions))
        decisions.append(
            Decision(
                index,
                strings[task],
                site=site(at),
                to_site=site(to - 1) if to > 1 else None,
                label=f"#{label:02x}" if label else "",
            )
        )
    for number in same_as_next:
        name = decisions[number].task
        following = next((d for d in decisions[number + 1 :] if d.task == name), None)
        if following is None:
            raise ValueError("a step end refers to a decision that is not there")
        decisions[number] = attrs.evolve(decisions[number], to_site=following.site)
    schedule = Schedule(
        tuple(decisions), mode="batch" if flags & 1 else "free", explore_time=bool(flags & 2)
    )
    return Anchored(identity, schedule, code, kind, signature)


def label_key(label: str) -> str:
    """How a token keeps a note label: ``#`` and a one-byte hash (``""`` for no label). Labels
    are only compared, never shown from a token, so the hash keeps tokens short."""
    if not label or label.startswith("#"):
        return label
    digest = hashlib.blake2b(label.encode(), digest_size=1).digest()[0]
    return f"#{digest or 1:02x}"


def split_token(token: str) -> tuple[str, str]:
    """``(fingerprint, payload)`` of a token, or :class:`TokenError` saying what is wrong."""
    return _split(token)[1:]


def token_version(token: str) -> str:
    return _split(token)[0]


def _split(token: str) -> tuple[str, str, str]:
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenError(
            f"{token[:40]!r} is not a racesim token: expected '{ANCHORED_VERSION}.<fingerprint>."
            "<payload>' as printed by 'racesim explore' or a failing test; copy it whole"
        )
    version, fingerprint, payload = parts
    if version not in VERSIONS:
        raise TokenError(
            f"token format {version!r} is not supported by this racesim (it reads "
            f"{' and '.join(VERSIONS)}); replay it with the racesim version that printed it"
        )
    return version, fingerprint, payload


def decode(token: str, fingerprint: str | None = None) -> Schedule:
    """The schedule in ``token``; checks it was made for ``fingerprint`` when one is given."""
    return decode_any(token, fingerprint).schedule


def decode_any(token: str, fingerprint: str | None = None) -> Anchored:
    """Everything in ``token`` (an ``rs1`` token gives no code and no failure); checks it was
    made for ``fingerprint`` when one is given."""
    version, token_fingerprint, payload = _split(token)
    if fingerprint is not None and token_fingerprint != fingerprint:
        if version == TOKEN_VERSION:
            raise TokenMismatch(
                f"this token was recorded for scenario version {token_fingerprint}, but the "
                f"scenario is now version {fingerprint} (its code or parameters changed); re-run "
                "'racesim explore' to get a token for the current version"
            )
        raise TokenMismatch(
            f"this token was recorded for scenario {token_fingerprint}, but this scenario is "
            f"{fingerprint}: another scenario, or the same one with other parameters; replay it "
            "against the scenario it was printed for, or run 'racesim explore' for a fresh token"
        )
    try:
        raw = base64.b32decode(payload.upper() + "=" * (-len(payload) % 8))
        flags, body = raw[0], raw[1:]
        if flags & 4:
            body = zlib.decompress(body)
        reader = _Reader(body)
        if version == ANCHORED_VERSION:
            anchored = _decode_anchored(token_fingerprint, flags, reader)
            if reader.position != len(body):
                raise ValueError("trailing data")
            return anchored
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
    return Anchored(
        token_fingerprint, Schedule(tuple(decisions), mode=mode, explore_time=explore_time)
    )


def token_fingerprint(token: str) -> str:
    return split_token(token)[0]
