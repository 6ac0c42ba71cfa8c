"""Required event orders: a small DAG of note labels that every run must respect.

An :class:`Order` is a value: a tuple of *rules* over ``sim.note`` labels. The rules are

- :class:`Edge` ``a -> b``: every ``a`` note happens before every ``b`` note of the same group;
- :class:`First` / :class:`Last`: a label opens (closes) its group, i.e. every note of the order's
  other labels in that group happens after (before) it;
- :class:`Nested` ``open / close``: closes pair off with earlier opens like brackets (each close has
  its own open that happens before it; counts are equal at the end).

Each rule may name a ``per`` attribute (``"run"``, ``"user"``): notes are then compared only within
a group of equal attribute value, and notes lacking the attribute are ignored by that rule. What the
rules *mean* on a trace — happens-before, verdicts, explanations — lives in ``_happens_before``;
this module is only the data and its validation.

The invariant: an ``Order`` is acyclic. A cyclic requirement can never be met, so it is rejected at
construction with :class:`OrderError` naming the cycle (found with ``nx.find_cycle``). The check is
conservative: it ignores ``per``, so ``a -> b per run`` and ``b -> a per user`` count as a cycle.

The trade-off: rules keep the order they were written in (deduplicated; ``x | y`` puts ``x``'s rules
first), so reports follow the author's chain rather than an alphabetical one. ``describe()`` is
therefore stable for a given way of writing an order — deterministic across processes and hash
seeds, nothing comes from set iteration — but two orders written in different orders describe (and
compare) differently. That is what a scenario fingerprint wants: the text as written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import attrs
import networkx as nx

if TYPE_CHECKING:
    from collections.abc import Iterable


class OrderError(ValueError):
    """A required order that cannot be checked: cyclic, or malformed."""


def _labels(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _suffix(per: str | None) -> str:
    return f" per {per}" if per is not None else ""


@attrs.frozen
class Edge:
    """``before -> after``: every ``before`` note happens before every ``after`` note of a group.

    ``optional`` lists the endpoints that may be absent from a group without a ``missing`` verdict.
    ``skips`` lists optional labels of a chain that this edge jumps over: it applies only to groups
    where all of them are absent (when one is present, the edges through it do the checking).
    """

    before: str
    after: str
    per: str | None = None
    optional: tuple[str, ...] = attrs.field(default=(), converter=_labels)
    skips: tuple[str, ...] = attrs.field(default=(), converter=_labels)

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.before, *self.skips, self.after)

    @property
    def name(self) -> str:
        absent = f" (when {', '.join(self.skips)} absent)" if self.skips else ""
        return f"{self.before} -> {self.after}{absent}"

    def describe(self) -> str:
        optional = f" (optional: {', '.join(self.optional)})" if self.optional else ""
        return f"{self.name}{_suffix(self.per)}{optional}"


@attrs.frozen
class First:
    """Each of ``labels`` opens its group: the order's other labels happen after its notes."""

    labels: tuple[str, ...] = attrs.field(converter=_labels)
    per: str | None = None

    @property
    def name(self) -> str:
        return f"first {' | '.join(self.labels)}"

    def describe(self) -> str:
        return f"{self.name}{_suffix(self.per)}"


@attrs.frozen
class Last:
    """Each of ``labels`` closes its group: the order's other labels happen before its notes."""

    labels: tuple[str, ...] = attrs.field(converter=_labels)
    per: str | None = None

    @property
    def name(self) -> str:
        return f"last {' | '.join(self.labels)}"

    def describe(self) -> str:
        return f"{self.name}{_suffix(self.per)}"


@attrs.frozen
class Nested:
    """``open`` / ``close`` nest like brackets: every close is matched to its own earlier open."""

    open: str
    close: str
    per: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.open, self.close)

    @property
    def name(self) -> str:
        return f"nested {self.open} / {self.close}"

    def describe(self) -> str:
        return f"{self.name}{_suffix(self.per)}"


Rule: TypeAlias = Edge | First | Last | Nested
RuleLike: TypeAlias = "Rule | Order | tuple[str, str] | tuple[str, str, str | None]"


def _to_rules(items: Iterable[RuleLike] = ()) -> tuple[Rule, ...]:
    """Flatten orders, rules and ``(before, after[, per])`` tuples; drop repeats, keep order."""
    rules: list[Rule] = []
    for item in items:
        if isinstance(item, Order):
            rules.extend(item.rules)
        elif isinstance(item, Edge | First | Last | Nested):
            rules.append(item)
        elif isinstance(item, tuple) and len(item) in (2, 3):
            rules.append(Edge(*item))
        else:
            raise OrderError(
                f"cannot read {item!r} as part of a required order: pass Order values, rules "
                "(Edge, First, Last, Nested) or (before, after[, per]) tuples"
            )
    return tuple(dict.fromkeys(rules))


@attrs.frozen
class Order:
    """A required order: an acyclic set of rules over note labels. Combine with ``|``."""

    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_to_rules)

    def __attrs_post_init__(self) -> None:
        for rule in self.rules:
            for label in rule.labels:
                if not isinstance(label, str) or not label:
                    raise OrderError(f"{rule.describe()}: labels must be non-empty strings")
        graph = self.graph()
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return
        path = " -> ".join([str(u) for u, _ in cycle] + [str(cycle[0][0])])
        on_cycle = set(cycle)
        culprits = "; ".join(
            rule.describe()
            for rule in self.rules
            if on_cycle.intersection(_implied_edges(rule, self.labels))
        )
        raise OrderError(
            f"required order is cyclic: {path} can never hold. The cycle comes from: {culprits}. "
            "Remove or reverse one of these rules (a required order must be a DAG)."
        )

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def edge(cls, before: str, after: str, per: str | None = None) -> Order:
        """``before`` happens before ``after`` (within each ``per`` group)."""
        return cls([Edge(before, after, per)])

    @classmethod
    def chain(cls, *labels: str, per: str | None = None, optional: Iterable[str] = ()) -> Order:
        """``labels[0] -> labels[1] -> ...``. Labels in ``optional`` may be absent from a group;
        the chain then requires the order of its neighbours directly (``a, b, c`` with ``b``
        optional also requires ``a -> c`` in groups without ``b``)."""
        optional = tuple(optional)
        if len(labels) < 2:
            raise OrderError(f"a chain needs at least two labels, got {labels!r}")
        unknown = [label for label in optional if label not in labels]
        if unknown:
            raise OrderError(
                f"optional labels {unknown!r} are not in the chain {labels!r}: "
                "list only labels of the chain"
            )
        rules: list[Rule] = []
        for i, before in enumerate(labels):
            for j in range(i + 1, len(labels)):
                between = labels[i + 1 : j]
                if not all(label in optional for label in between):
                    break
                after = labels[j]
                ends = tuple(label for label in (before, after) if label in optional)
                rules.append(Edge(before, after, per, ends, between))
        return cls(rules)

    @classmethod
    def first(cls, *labels: str, per: str | None = None) -> Order:
        """Each of ``labels`` opens its group: the order's other labels come after it."""
        if not labels:
            raise OrderError("Order.first needs at least one label")
        return cls([First(labels, per)])

    @classmethod
    def last(cls, *labels: str, per: str | None = None) -> Order:
        """Each of ``labels`` closes its group: the order's other labels come before it
        (e.g. ``Order.last("agent_completed", "agent_failed", per="run")``)."""
        if not labels:
            raise OrderError("Order.last needs at least one label")
        return cls([Last(labels, per)])

    @classmethod
    def nested(cls, open_label: str, close_label: str, per: str | None = None) -> Order:
        """Every ``close_label`` has its own ``open_label`` before it; counts equal at the end."""
        return cls([Nested(open_label, close_label, per)])

    def __or__(self, other: Order) -> Order:
        if not isinstance(other, Order):
            return NotImplemented
        return Order([self, other])

    # -- reading ----------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        """Every label the order mentions, in first-mention order."""
        return tuple(dict.fromkeys(label for rule in self.rules for label in rule.labels))

    def graph(self) -> nx.DiGraph:
        """The label DAG every rule implies (``per`` ignored); its edges carry the rule."""
        graph = nx.DiGraph()
        labels = self.labels
        graph.add_nodes_from(labels)
        for rule in self.rules:
            for before, after in _implied_edges(rule, labels):
                if not graph.has_edge(before, after):
                    graph.add_edge(before, after, rule=rule.describe())
        return graph

    def describe(self) -> str:
        """A stable one-line text of the rules, as written (used in scenario fingerprints)."""
        return "; ".join(rule.describe() for rule in self.rules)


def _implied_edges(rule: Rule, labels: tuple[str, ...]) -> list[tuple[str, str]]:
    if isinstance(rule, Edge):
        return [(rule.before, rule.after)]
    if isinstance(rule, Nested):
        return [(rule.open, rule.close)]
    others = [label for label in labels if label not in rule.labels]
    if isinstance(rule, First):
        return [(mine, other) for mine in rule.labels for other in others]
    return [(other, mine) for mine in rule.labels for other in others]
