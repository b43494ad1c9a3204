"""A sweep's cells and their folder names, from Hydra's public override parser: the same as
Hydra's own basic sweeper and `override_dirname` give (the internals `run -m` uses, which only
this test imports)."""

from __future__ import annotations

import pytest
from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from xfer_scale import sweep_overrides

SWEEPS = [
    ["seed=1,2", "cache.dir=elsewhere"],  # tests/test_status.py's multirun.yaml
    ["intermediate.fraction=0.01,0.1,1.0", "target=xnli,udpos", "seed=range(1,3)", "target=udpos", "seed=4"],
    ["experiment=smoke", "target=xnli,udpos", "target.languages=[sw]", "target.eval_splits=[test]",
     "intermediate.train.max_steps=2", "cache.dir=/tmp/c"],
    ["+extra=a,b", "~model.revision", "model@target_model=tiny", "x='a=b,c'", "y=choice(\"p q\",r)", "z=null",
     "w=range(0,10,4)", "v=sort(3,1,2)", "u={a: 1, b: [2, 3]}", "t="],
]
NAMINGS = [([], ",", "="), (["cache.dir", "seed"], ",", "="), (["experiment"], "/", "_")]


@pytest.mark.parametrize("sweep", SWEEPS)
def test_cells_are_the_basic_sweepers(sweep: list[str]):
    parser = OverridesParser.create()
    cells = sweep_overrides.cells(parser.parse_overrides(sweep))
    assert cells == BasicSweeper.split_arguments(parser.parse_overrides(sweep), None)[0]
    assert len(cells) > 1


@pytest.mark.parametrize("sweep", SWEEPS)
@pytest.mark.parametrize(("exclude_keys", "item_sep", "kv_sep"), NAMINGS)
def test_cell_folder_names_are_hydras_override_dirname(sweep: list[str], exclude_keys: list[str], item_sep: str,
                                                       kv_sep: str):
    parser = OverridesParser.create()
    for cell in sweep_overrides.cells(parser.parse_overrides(sweep)):
        parsed = parser.parse_overrides(cell)
        assert sweep_overrides.dirname(parsed, exclude_keys, item_sep, kv_sep) == \
            get_overrides_dirname(parsed, exclude_keys, item_sep, kv_sep)


def test_an_interval_sweep_is_refused_as_the_basic_sweeper_refuses_it():
    parsed = OverridesParser.create().parse_overrides(["lr=interval(0.1,1.0)"])
    with pytest.raises(HydraException, match="does not support sweep type"):
        BasicSweeper.split_arguments(parsed, None)
    with pytest.raises(HydraException, match="does not support sweep type"):
        sweep_overrides.cells(parsed)
