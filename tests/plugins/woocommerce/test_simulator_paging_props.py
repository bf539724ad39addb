"""Properties of the simulator's paging (no HTTP): what holds for any catalogue and page size."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.woocommerce.simulator.listing import page_window

Row = tuple[int, int]  # (id, second)


def pages(rows: list[Row], per_page: int, unstable: bool, key: bool = True) -> list[list[int]]:
    count = -(-len(rows) // per_page)
    out = []
    for page in range(1, count + 1):
        window = page_window(
            rows,
            key=(lambda r: r[1]) if key else None,
            descending=True,
            page=page,
            per_page=per_page,
            offset=None,
            id_of=lambda r: r[0],
            unstable_ties=unstable,
            seed=3,
        )
        out.append([r[0] for r in window])
    return out


catalogues = st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=120).map(
    lambda seconds: [(n + 1, s) for n, s in enumerate(sorted(seconds))]
)


@settings(max_examples=60, deadline=None)
@given(rows=catalogues, per_page=st.integers(min_value=1, max_value=40))
def test_pages_have_the_right_sizes_and_respect_the_sort_key(
    rows: list[Row], per_page: int
) -> None:
    got = pages(rows, per_page, unstable=True)
    assert [len(p) for p in got[:-1]] == [per_page] * (len(got) - 1)
    assert sum(len(p) for p in got) == len(rows)
    second = dict(rows)
    flat = [second[i] for p in got for i in p]
    assert flat == sorted(flat, reverse=True)  # ties move, the date order never breaks


@settings(max_examples=60, deadline=None)
@given(rows=catalogues, per_page=st.integers(min_value=1, max_value=40))
def test_same_request_same_answer_and_stable_keys_page_cleanly(
    rows: list[Row], per_page: int
) -> None:
    assert pages(rows, per_page, unstable=True) == pages(rows, per_page, unstable=True)
    by_id = sorted(rows, key=lambda r: r[0])
    clean = pages(by_id, per_page, unstable=True, key=False)
    assert [i for p in clean for i in p] == [r[0] for r in by_id]


def test_a_tie_group_straddling_pages_repeats_and_skips() -> None:
    rows = [(n, 0) for n in range(1, 101)]
    got = pages(rows, 25, unstable=True)
    seen = [i for p in got for i in p]
    assert len(seen) == 100 and len(set(seen)) < 100


def test_fast_date_path_gives_the_same_pages_as_sorting() -> None:
    from plugins.woocommerce.simulator import SimulatedStore

    store = SimulatedStore()
    store.seed_products(300, per_second=7)
    catalog = store.catalog
    assert catalog.created_monotonic

    def listing() -> list[list[int]]:
        return [
            [p["id"] for p in catalog.list_products({}, page, 40, None, True)[0]]
            for page in range(1, 9)
        ]

    fast = listing()
    catalog.created_monotonic = False  # force the generic sort
    assert listing() == fast
    store.seed_products(5)  # backdated before existing products: the fast path turns itself off
    assert not catalog.created_monotonic
