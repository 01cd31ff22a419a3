"""--backend ray (local Ray, 2 workers, sandbox inside the workers) gives the local backend's table bit
for bit in the metrics."""

import pytest
from evalhelpers import needs_bwrap

from testbed.evaluation.evaluator import evaluate
from testbed.evaluation.metrics import METRIC_COLUMNS
from testbed.evaluation.store import Store
from testbed.evaluation.submission import write_template
from testbed.evaluation.suite import get_suite

ray = pytest.importorskip("ray")


@needs_bwrap
def test_ray_two_workers_equals_local(tmp_path):
    sub = write_template(tmp_path / "sub")
    suite = get_suite("dev").select(["head_on"])
    tables = {}
    for backend in ("local", "ray"):
        with Store(tmp_path / f"{backend}.db") as store:
            s = evaluate(str(sub), suite, store, backend=backend, workers=2 if backend == "ray" else 1)
            assert s.statuses == {"finished": 2}
            rows = store.rows("dev")
            tables[backend] = {(r["case_id"], r["seed"]): tuple(r[c] for c in METRIC_COLUMNS) for r in rows}
            assert all(r["replay"] for r in rows)
    assert not ray.is_initialized()
    assert tables["ray"] == tables["local"]
