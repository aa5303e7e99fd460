"""What a person sees: the report's first lines, the study page in the MLflow UI (rendered in a
real Chromium), ``overview.html``, and the comparison of studies (``study-compare``, a sweep).

The browser tests need Debian's ``chromium`` and the ``playwright`` package (``.ci/run`` installs
both); where either is missing they are skipped with the reason.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import mlflow_server

from study import config
from study.cli import compare_main
from study.lifecycle import pipeline
from study.report import summary

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_or_skip():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")


def _compose(root: Path, uri: str, *overrides):
    return config.compose(
        [
            f"tracking.uri={uri}",
            f"paths.root={root}",
            "study.progress=false",
            "study.resample=none",
            "stability.n_bootstrap=200",
            *overrides,
        ]
    )


def _report(outcome) -> list[str]:
    return summary.render(
        outcome.analysis,
        run_id=outcome.run_id,
        uri=outcome.uri,
        experiment_id=outcome.experiment_id,
        extras=outcome.report,
    ).splitlines()


def test_report_names_the_top_variables_with_their_uncertainty_first(mlflow_store, tmp_path):
    uri = f"sqlite:///{mlflow_store / 'mlflow.db'}"
    out = pipeline.run(
        _compose(
            tmp_path,
            uri,
            "study.n_runs=10",
            "study.charts=false",
            "tracking.experiment=page-report",
        )
    )
    lines = _report(out)
    a = out.analysis.answer
    assert lines[0].startswith("Study wine-mlp_8")
    head = "\n".join(lines[1:8])  # the score line, then the answer (values below headings)
    for r in a.table.head(a.k).itertuples():  # each top variable, its mean rank and interval
        assert (
            f"{r.feature} {r.mean_rank:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}], {r.top_share:.0%}"
            in head
        )
    assert "Kendall's W" in head and ("Same top" in head or "of these" in head)
    # every link it prints opens the runs view (classic model-training view) of this study
    links = [w for line in lines for w in line.split() if w.startswith("http")]
    assert links and all("workflowType=machine_learning" in u for u in links)
    assert any("searchFilter=" in u and "wine-mlp_8" in u for u in links)


@pytest.mark.slow
def test_study_compare_prints_logs_and_refuses_one_study(mlflow_store, tmp_path, capsys):
    from mlflow import MlflowClient

    uri = f"sqlite:///{mlflow_store / 'mlflow.db'}"
    common = (
        "study.n_runs=4",
        "study.charts=false",
        "tracking.experiment=page-compare",
        "importance.methods=[garson,olden]",
    )
    a = pipeline.run(_compose(tmp_path, uri, *common, "model=mlp_8", "study.name=cmp-a"))
    b = pipeline.run(_compose(tmp_path, uri, *common, "model=mlp_10", "study.name=cmp-b"))
    capsys.readouterr()
    compare_main(
        ["--study", "cmp-a", "--study", b.run_id, "--uri", uri, "--output", str(tmp_path / "cmp")]
    )
    text = capsys.readouterr().out
    assert "cmp-a (model.hidden_layer_sizes=[8], model.name=mlp_8)" in text
    assert "cmp-a vs cmp-b: tau" in text and "On top in every study:" in text
    pairs = pd.read_csv(tmp_path / "cmp" / "compare_pairs.csv")
    from study.analysis import answer

    ma, mb = (answer.mean_ranks(o.record, "olden") for o in (a, b))
    assert pairs.tau.iloc[0] == pytest.approx(answer.kendall_tau(ma, mb))
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0
    rid = text.split("Comparison run: ")[1].split()[0]
    run = MlflowClient(uri).get_run(rid)
    assert run.info.status == "FINISHED" and run.data.tags["study.role"] == "comparison"
    assert run.data.tags["study.compared"] == f"{a.run_id},{b.run_id}"
    assert (
        f"#/experiments/{a.experiment_id}/runs/{a.run_id}" in run.data.tags["mlflow.note.content"]
    )
    # --experiment: every finished study in it (the comparison run is not one)
    compare_main(
        [
            "--experiment",
            "page-compare",
            "--uri",
            uri,
            "--no-log",
            "--output",
            str(tmp_path / "cmp2"),
        ]
    )
    assert "Comparison of 2 studies" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        compare_main(["--study", "cmp-a", "--uri", uri])
    assert exc.value.code == 2
    assert "at least two studies" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_ends_with_the_comparison_of_its_studies(tmp_path):
    env = {**os.environ, "MLFLOW_DISABLE_AGENT_HINT": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from study.cli import run_main; run_main()",
            "-m",
            "model=mlp_8,mlp_10",
            "study.n_runs=5",
            "study.charts=false",
            "study.progress=false",
            "study.resample=none",
            "importance.methods=[garson,olden,permutation]",
            f"paths.root={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tail = proc.stdout[proc.stdout.index("Comparison of 2 studies") :]
    assert "wine-mlp_8 (" in tail and "wine-mlp_10 (" in tail
    assert "wine-mlp_8 vs wine-mlp_10: tau" in tail
    assert "Comparison run: " in tail and "again: study-compare" in tail


@pytest.fixture(scope="module")
def served_study(tmp_path_factory):
    """A 10-seed study with charts, logged to a real ``mlflow server`` whose UI we open."""
    root = tmp_path_factory.mktemp("page")
    backend = f"sqlite:///{root / 'server.db'}"
    server = mlflow_server(backend, root / "artifacts")
    url = next(server)
    outcome = pipeline.run(
        _compose(
            root,
            url,
            "study.n_runs=10",
            "tracking.experiment=page",
            "study.resample=bootstrap",
            "study.n_resamples=6",
        )
    )
    pipeline.keep_report(
        "\n".join(_report(outcome)), outcome.output_dir, outcome.uri, outcome.run_id
    )
    yield url, outcome
    next(server, None)


def _page(browser, url, *, wait_text=None):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    if wait_text:
        page.get_by_text(wait_text, exact=False).first.wait_for(timeout=60_000)
    return page


@pytest.mark.slow
def test_study_page_in_chromium(served_study, tmp_path):
    """The parent's description, the Model metrics tab and overview.html, opened in Chromium:
    the answer table and the charts are there. Screenshots go to $STUDY_SCREENSHOTS if set."""
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    url, out = served_study
    shots = Path(os.environ.get("STUDY_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    a = out.analysis.answer
    top = a.table.iloc[0]
    run_page = (
        f"{url}/#/experiments/{out.experiment_id}/runs/{out.run_id}?workflowType=machine_learning"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # the overview file itself: self-contained, every image decoded
            page = _page(browser, (out.output_dir / "overview.html").as_uri())
            rows = page.locator("#answer tr").count()
            assert rows == len(out.record.meta.feature_names) + 1
            first = page.locator("#answer tr").nth(1).inner_text()
            assert top.feature in first and f"{top.mean_rank:.1f}" in first
            sizes = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert len(sizes) >= 4 and all(w > 0 for w in sizes), sizes
            body = page.inner_text("body")  # the data first: rank sets, seeds or data, their chart
            assert f"{top.rank_low}–{top.rank_high}" in first and "Seeds or data: more" in body
            assert page.locator('img[alt^="Where each variable ranks"]').count() == 1
            page.screenshot(path=str(shots / "overview.png"), full_page=True)
            # the parent run: its description opens with the answer, and links to the page
            page = _page(browser, run_page, wait_text="Answer")
            assert page.get_by_text(top.feature).count() >= 1
            assert page.get_by_text("95% rank sets over data and seeds", exact=False).count() >= 1
            page.screenshot(path=str(shots / "parent.png"), full_page=True)
            # the UI folds a long description under "Show more" once it has rendered it; its
            # fade covers the link until then (a count() at once raced the fold in CI)
            more = page.get_by_text("Show more").first
            try:
                more.wait_for(timeout=15_000)
                more.click()
            except Exception:  # playwright's TimeoutError: a description short enough to show whole
                pass
            # the UI opens description links in a new tab: the overview, inside the UI
            with page.context.expect_page() as tab:
                page.get_by_role("link", name="Overview page (overview.html)").click()
            page = tab.value
            page.wait_for_function(
                "location.hash.includes('/artifacts/overview.html')", timeout=30_000
            )
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.wait_for_timeout(5000)
            page.screenshot(path=str(shots / "overview_in_mlflow.png"))
            # the model metrics: curves over the number of seeds, not hundreds of bars
            page = _page(browser, run_page.replace("?", "/model-metrics?"))
            import re

            page.wait_for_function(
                "/Model metrics\\s*\\(\\d+\\)/.test(document.body.innerText)", timeout=60_000
            )
            page.wait_for_timeout(3000)
            page.screenshot(path=str(shots / "model_metrics.png"))
            n = int(re.search(r"Model metrics\s*\((\d+)\)", page.inner_text("body")).group(1))
            assert 20 <= n <= 40, n
            # a child: its own duration and the study's tags
            child = out.record.runs[0].run_id
            page = _page(
                browser,
                f"{url}/#/experiments/{out.experiment_id}/runs/{child}"
                "?workflowType=machine_learning",
                wait_text="study.name",
            )
            page.screenshot(path=str(shots / "child.png"), full_page=True)
        finally:
            browser.close()
