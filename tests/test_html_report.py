"""The HTML report as a browser shows it: headless Chromium (the Debian package) loads the file with
its Content-Security-Policy (no network), runs its one inline script, and renders it to a PNG."""

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib.model import AccountSnapshot
from chalicelib.pipeline import judge_snapshot
from ciswatch_cli.html_report import TREND_RUNS, render_html, trend_svg

GOLDEN = Path(__file__).parent / "data" / "golden" / "before-model.jsonl.gz"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is missing: `make test` installs the Debian package chromium")
    return found


def a_red_account():
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
        for rec in map(json.loads, fh):
            if rec["kind"] != "audit":
                continue
            result = judge_snapshot(AccountSnapshot.from_json(rec["snapshot"]), rec["benchmark"])
            if result.summary["FAIL"] and any(f.is_per_resource for f in result.findings):
                return result
    raise AssertionError("the corpus has a failing account with keys")


def trend(n):
    return [
        {"started_at": f"2026-09-{1 + i % 28:02d}T06:00:00Z", "FAIL": max(0, 17 - i // 5), "PASS": i // 5}
        for i in range(n)
    ]


def test_the_file_is_self_contained():
    html = render_html(a_red_account(), trend(120))
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    urls = set(re.findall(r"(?:src|href)=\"([^\"]+)\"", html))
    assert urls == set()  # nothing to fetch: styles, chart and script are inline
    assert html.count("<polyline") == 2 and f"over {TREND_RUNS} run(s)" in html


def test_the_trend_is_absent_without_runs():
    assert 'id="trend"' not in render_html(a_red_account())
    assert trend_svg([]) == ""


def test_chromium_renders_the_report(tmp_path):
    result = a_red_account()
    page = tmp_path / "report.html"
    page.write_text(render_html(result, trend(30)), encoding="utf-8")
    browser = chromium()
    common = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="ok"' in dom.stdout  # the page loaded and its script ran
    assert "Refused to" not in dom.stderr and "Uncaught" not in dom.stderr  # no CSP violation, no script error
    summary = re.search(r'<section id="summary">.*?</section>', dom.stdout, re.S)
    assert summary and f'<b style="color:#cf222e">{result.summary["FAIL"]}</b>FAIL' in summary.group(0)
    shot = tmp_path / "report.png"
    png = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,1400", "--hide-scrollbars", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert png.returncode == 0 and shot.exists(), png.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real, non-blank page


@pytest.mark.moto
def test_one_run_writes_every_format_with_the_trend_from_the_table(env, tmp_path, monkeypatch, capsys):
    from ciswatch_cli.main import main

    from .state_env import HOME, TABLE

    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    url = env["settings"].endpoint_url
    base = ["audit", "--regions", HOME, "--endpoint-url", url, "--table", TABLE]
    main(base)
    out = tmp_path / "reports"
    assert main([*base, "--format", "table,json,html,csv,junit,asff,ocsf", "--output-dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["asff.json", "findings.csv", "junit.xml", "ocsf.json", "report.html", "report.json", "report.txt"]
    page = (out / "report.html").read_text()
    assert 'id="trend"' in page and "over 2 run(s)" in page
    assert main([*base, "--format", "table,json"]) == 2
    assert "several formats need --output-dir" in capsys.readouterr().err
    assert main([*base, "--format", "pdf"]) == 2
