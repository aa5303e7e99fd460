"""The default study's tables are the ones it made before the house moved (issue 30).

``tests/data/default_tables/*.csv.gz`` are the 13 tables ``study-run`` (no overrides) wrote at
commit 5ec58eb, before the modules moved into stage packages. A move, a split or a renamed
default that changes a number, a rank, a column or a row shows here.
"""

from pathlib import Path

import pandas as pd
import pytest

from study import config
from study.lifecycle import pipeline

GOLDEN = Path(__file__).parent / "data" / "default_tables"


@pytest.mark.slow
def test_every_table_of_the_default_study_is_unchanged(tmp_path):
    out = tmp_path / "out"
    pipeline.run(
        config.compose(
            [
                f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                f"paths.root={tmp_path}",
                f"paths.output_dir={out}",
            ]
        )
    )
    golden = sorted(p.name.removesuffix(".gz") for p in GOLDEN.glob("*.csv.gz"))
    assert len(golden) == 13
    assert sorted(p.name for p in out.glob("*.csv")) == golden  # no table lost or added
    for name in golden:
        before = pd.read_csv(GOLDEN / f"{name}.gz")
        after = pd.read_csv(out / name)
        # floats to 1e-9 relative: the same arithmetic, allowing another CPU's last bits
        pd.testing.assert_frame_equal(after, before, check_exact=False, rtol=1e-9, atol=1e-12)
