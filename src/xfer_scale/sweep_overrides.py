"""A sweep's cells and the folder names Hydra gives them, from overrides parsed by Hydra's public
override parser (`hydra.core.override_parser`), without Hydra's internals.

`cells` expands a sweep as `run -m` does with Hydra's basic sweeper (conf/config.yaml keeps it),
and `dirname` names a cell as Hydra's `${hydra.job.override_dirname}` does, by the rule its
documented config `hydra.job.config.override_dirname` (kv_sep, item_sep, exclude_keys) sets.
Both are what Hydra 1.3's `BasicSweeper.split_arguments` and `get_overrides_dirname` compute;
tests/test_status.py checks them against those.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from hydra.core.override_parser.types import Override
from hydra.errors import HydraException


def cells(overrides: Iterable[Override]) -> list[list[str]]:
    """Every cell of the sweep `overrides` describe, each its `key=value` overrides, in the
    order the basic sweeper launches them.

    A key's values are its sweep's (`a,b`, `range()`, `glob()`, in the sweep's order) or its
    one value; an override of a key given before replaces it in that key's place (so the
    command line wins over a config's `hydra.sweeper.params`). Cells are the cartesian product
    of the keys' values, the first key varying slowest.
    """
    axes: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            axes[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            axes[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:  # interval(), which only an optimizing sweeper plugin samples
            name = override.value_type.name if override.value_type is not None else "interval"
            raise HydraException(f"the basic sweeper does not support sweep type: {name} ({override.input_line})")
    return [list(cell) for cell in itertools.product(*axes.values())]


def dirname(overrides: Iterable[Override], exclude_keys: Iterable[str], item_sep: str, kv_sep: str) -> str:
    """`hydra.job.override_dirname` of a job run with `overrides`: each override as typed
    (`input_line`) but those whose key is in `exclude_keys`, sorted, joined by `item_sep`, and
    then every `=` of the result, in values too, replaced by `kv_sep` (a regex substitution, as
    Hydra's)."""
    excluded = set(exclude_keys)
    lines = sorted(str(override.input_line) for override in overrides if override.key_or_group not in excluded)
    return re.sub("[=]", kv_sep, item_sep.join(lines))
