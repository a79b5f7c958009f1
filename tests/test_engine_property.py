"""Property: on any DAG, a cold run renders every node exactly once and a warm run renders none."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import renders
from inpainterz.engine import Graph


@st.composite
def dags(draw):
    n = draw(st.integers(min_value=1, max_value=12))
    nodes = []
    for i in range(n):
        if i == 0 or draw(st.booleans()) and i < 3:
            nodes.append(("TSource", {"value": draw(st.integers(0, 255))}, []))
            continue
        kind = draw(st.sampled_from(["TOffset", "TJoin"]))
        a = draw(st.integers(0, i - 1))
        if kind == "TOffset":
            nodes.append((kind, {"k": draw(st.integers(-3, 3))}, [("frames", a)]))
        else:
            b = draw(st.one_of(st.none(), st.integers(0, i - 1)))
            nodes.append((kind, {}, [("a", a)] + ([("b", b)] if b is not None else [])))
    return nodes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=dags())
def test_random_dags_render_each_node_once_cold_and_never_warm(spec, counting_registry, tmp_path_factory, monkeypatch):
    tmp = tmp_path_factory.mktemp("dag")
    log = tmp / "renders.log"
    monkeypatch.setenv("INPAINTERZ_TEST_LOG", str(log))
    g = Graph(registry=counting_registry)
    for i, (type_id, params, inputs) in enumerate(spec):
        node_id = f"n{i}"
        g.add(type_id, id=node_id, **params)
        for port, src in inputs:
            g.connect(f"n{src}.frames", node_id, port)
    cold = g.run(cache_dir=tmp / "cache", jobs=2)
    assert cold.ok
    # Nodes with identical keys (same type, params and inputs) share one entry and render once.
    distinct = {r.key for r in cold.nodes.values()}
    assert len(renders(log)) == len(distinct)
    assert set(renders(log)) <= set(g.nodes)
    warm = g.run(cache_dir=tmp / "cache", jobs=2)
    assert {r.status for r in warm.nodes.values()} == {"cached"}
    assert len(renders(log)) == len(distinct)
