"""[rev 2] Section 3, Funnels: at most 100 stages per funnel, however they are added."""

from __future__ import annotations

import uuid
from typing import Any

from .checks import problem
from .conftest import Api


def stages(n: int) -> list[dict[str, Any]]:
    return [{"name": f"Стадия {i}", "order": i} for i in range(1, n + 1)]


def test_given_101_stages_when_creating_a_funnel_then_400_and_nothing_created(api: Api) -> None:
    name = f"Слишком длинная {uuid.uuid4().hex[:8]}"
    problem(api.post("funnels/", json={"name": name, "stages": stages(101)}), 400)
    assert api.list("funnels", search=name)["count"] == 0


def test_given_100_stages_when_creating_a_funnel_then_201_with_all_of_them(api: Api) -> None:
    funnel = api.funnel(stages=stages(100))
    assert len(funnel["stages"]) == 100
    assert api.list("funnel-stages", funnel=funnel["id"], page_size=500)["count"] == 100


def test_given_100_stages_when_adding_the_101st_then_400_and_still_100(api: Api) -> None:
    funnel = api.funnel(stages=stages(100))
    r = api.post(
        "funnel-stages/", json={"funnel": funnel["id"], "name": "Сто первая", "order": 101}
    )
    problem(r, 400)
    r = api.post("funnel-stages/", json={"funnel": funnel["id"], "name": "Без порядка"})
    problem(r, 400)
    assert api.list("funnel-stages", funnel=funnel["id"], page_size=500)["count"] == 100
    assert len(api.fetch("funnels", funnel["id"])["stages"]) == 100


def test_given_99_stages_when_adding_one_then_201_and_the_next_is_400(api: Api) -> None:
    funnel = api.funnel(stages=stages(99))
    api.create("funnel-stages", {"funnel": funnel["id"], "name": "Сотая", "order": 100})
    r = api.post(
        "funnel-stages/", json={"funnel": funnel["id"], "name": "Сто первая", "order": 101}
    )
    problem(r, 400)
    assert api.list("funnel-stages", funnel=funnel["id"], page_size=500)["count"] == 100
