"""The README's quick start, run as written against a live server, so that it cannot drift."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.http_contract.conftest import fresh_database, serving

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start_block() -> str:
    section = README.read_text().split("## Quick start", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README has no quick-start shell block"
    return match.group(1)


def json_values(text: str) -> list[dict[str, object]]:
    """curl prints the bodies back to back, without newlines between them."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while position < len(text.rstrip()):
        value, position = decoder.raw_decode(text, position)
        values.append(value)
        while position < len(text) and text[position].isspace():
            position += 1
    return values


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_readme_quick_start_runs_against_a_live_server(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url, serving(url, tmp_path) as server:
        token = server.create_user("Ромашка", "anna@example.com", "s3cret", "admin")
        script = quick_start_block().replace("paste-the-token-here", token)
        script = script.replace("http://127.0.0.1:8000", server.base_url)

        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stderr + result.stdout
    statistics = json_values(result.stdout)[-1]
    assert statistics["funnel_name"] == "Продажи услуг"
    assert statistics["won_deals"] == 1
    assert statistics["won_amount"] == "50000.00"
