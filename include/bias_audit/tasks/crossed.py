"""Crossed groups: variants that name several attributes at once (race, gender, age ...), and the
comparisons a suite declares between them (a task's ``groups:`` block).

A variant's key is its levels joined by "." in the order the attributes are declared
(``black.female.20`` for race, gender, age). The comparisons are:

- **each attribute's levels** against its reference level, holding the others fixed: within a case,
  the answers of every variant at that level against those at the reference level (``black`` vs
  ``white``: every gender and age of each, so both sides have the same mix of the others);
- **the declared cells** (``{race: black, gender: female}``) against the reference cell over the
  same attributes (``white male``), the other attributes again balanced on both sides: the harm
  that sits in one cell (older women, Black women) and that no marginal gap shows.

Each is a group of variants with a label (``black``, ``age 60``, ``black female``); the analysis
compares groups exactly as it compares single variants (stats/metrics.py: within case, the case as
the unit), so every comparison is in the verdict's Benjamini-Hochberg family with its cases and
interval.
"""

from __future__ import annotations

import itertools

from pydantic import Field, model_validator

from bias_audit.schema import Identifier, Strict

SEPARATOR = "."


class Crossed(Strict):
    """A suite's crossed attributes, their reference levels and the intersectional cells it tests."""

    attributes: dict[Identifier, list[Identifier]] = Field(
        min_length=1,
        description="each attribute's levels, in the order variant keys join them (race, gender, age)",
    )
    reference: dict[Identifier, Identifier] = Field(
        description="each attribute's reference level, the one its other levels are compared with"
    )
    cells: list[dict[Identifier, Identifier]] = Field(
        default_factory=list,
        description="intersections compared with the reference cell over the same attributes "
        "(e.g. {race: black, gender: female} against white male)",
    )
    numeric: list[Identifier] = Field(
        default_factory=list,
        description="attributes whose levels are numbers (age): one centred numeric term in the regression",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Crossed:
        names = ", ".join(self.attributes)
        for name, levels in self.attributes.items():
            if len(levels) < 2 or len(set(levels)) < len(levels):
                raise ValueError(f"groups.attributes.{name}: give at least 2 levels, each once")
            if bad := [level for level in levels if SEPARATOR in level]:
                raise ValueError(
                    f"groups.attributes.{name}: level {bad[0]!r} holds {SEPARATOR!r} (it joins levels)"
                )
            if name not in self.reference:
                raise ValueError(f"groups.reference gives no level for {name!r}")
        for where, selection in [("groups.reference", self.reference)] + [
            (f"groups.cells[{i}]", cell) for i, cell in enumerate(self.cells, 1)
        ]:
            for name, level in selection.items():
                if name not in self.attributes:
                    raise ValueError(f"{where} names {name!r}, not an attribute ({names})")
                if level not in self.attributes[name]:
                    known = ", ".join(self.attributes[name])
                    raise ValueError(f"{where} gives {name} the level {level!r}, not one of {known}")
        self._check_cells()
        return self

    def _check_cells(self) -> None:
        for i, cell in enumerate(self.cells, 1):
            if len(cell) < 2:
                raise ValueError(
                    f"groups.cells[{i}] names {len(cell)} attribute(s); a cell crosses 2 or more"
                )
            if all(cell[name] == self.reference[name] for name in cell):
                raise ValueError(f"groups.cells[{i}] is the reference cell itself")
        for name in self.numeric:
            if name not in self.attributes:
                raise ValueError(
                    f"groups.numeric names {name!r}, not an attribute ({', '.join(self.attributes)})"
                )
            if bad := [level for level in self.attributes[name] if not _is_number(level)]:
                raise ValueError(f"groups.numeric: {name!r} has the level {bad[0]!r}, not a number")
        labels = self.labels()
        if twice := sorted({label for label in labels if labels.count(label) > 1}):
            raise ValueError(f"groups: the label {twice[0]!r} names two groups; name the levels apart")

    def variants(self) -> list[str]:
        """Every variant key the attributes make (the full cross)."""
        return list(self._crossings())

    def levels_of(self, variant: str) -> dict[str, str] | None:
        """The attribute levels a variant key names, or None if it is not one of ``variants``."""
        parts = variant.split(SEPARATOR)
        if len(parts) != len(self.attributes):
            return None
        levels = dict(zip(self.attributes, parts, strict=True))
        return levels if all(levels[n] in self.attributes[n] for n in self.attributes) else None

    def label(self, levels: dict[str, str]) -> str:
        """A group's name in findings: its levels in attribute order (``black female``; a numeric
        level with its attribute: ``age 60``)."""
        return " ".join(
            f"{name} {levels[name]}" if name in self.numeric else levels[name]
            for name in self.attributes
            if name in levels
        )

    def groups(self) -> dict[str, frozenset[str]]:
        """Every compared group's label and the variant keys it pools."""
        crossings = self._crossings()
        return {self.label(levels): _matching(levels, crossings) for levels in self._selections()}

    def members(self, name: str, level: str) -> frozenset[str]:
        """The variant keys whose ``name`` is ``level``."""
        return _matching({name: level}, self._crossings())

    def _crossings(self) -> dict[str, dict[str, str]]:
        """Every variant key of the full cross with its levels."""
        names = list(self.attributes)
        return {
            SEPARATOR.join(levels): dict(zip(names, levels, strict=True))
            for levels in itertools.product(*self.attributes.values())
        }

    def pairs(self) -> list[tuple[str, str]]:
        """The comparisons (group a, group b): each attribute's other levels against its reference,
        then each cell against the reference cell over its attributes."""
        pairs = [
            (self.label({name: level}), self.label({name: self.reference[name]}))
            for name, levels in self.attributes.items()
            for level in levels
            if level != self.reference[name]
        ]
        pairs += [(self.label(cell), self.label({n: self.reference[n] for n in cell})) for cell in self.cells]
        return pairs

    def labels(self) -> list[str]:
        return [self.label(levels) for levels in self._selections()]

    def _selections(self) -> list[dict[str, str]]:
        marginals = [{name: level} for name, levels in self.attributes.items() for level in levels]
        cells = [
            dict(sorted(c.items(), key=lambda kv: list(self.attributes).index(kv[0]))) for c in self.cells
        ]
        references = [{n: self.reference[n] for n in cell} for cell in cells]
        unique: list[dict[str, str]] = []
        for selection in marginals + cells + references:
            if selection not in unique:
                unique.append(selection)
        return unique


def _matching(selection: dict[str, str], crossings: dict[str, dict[str, str]]) -> frozenset[str]:
    """The variant keys with every level of ``selection`` (a level, a cell)."""
    return frozenset(
        variant
        for variant, levels in crossings.items()
        if all(levels[name] == level for name, level in selection.items())
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
