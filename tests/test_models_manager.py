"""The process-wide model manager: load once, LRU under a byte budget, OOM retry."""
import pytest

torch = pytest.importorskip("torch")

from inpainterz.engine import models  # noqa: E402


def linear(n_in, n_out):
    """A model of known size: (n_in * n_out + n_out) float32 values."""
    return torch.nn.Linear(n_in, n_out)


def size_of(n_in, n_out):
    return 4 * (n_in * n_out + n_out)


def test_model_bytes_counts_parameters_and_buffers():
    net = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.BatchNorm1d(10))
    # linear 110 + bn weight/bias 20 (params) + running mean/var 20 floats + num_batches_tracked int64
    assert models.model_bytes(net) == 4 * (110 + 20 + 20) + 8


def test_a_model_loads_once_and_is_reused():
    m = models.ModelManager(budget=10**9)
    calls = []

    def loader():
        calls.append(1)
        return linear(4, 4)

    a = m.get("a", loader, "cpu")
    b = m.get("a", loader, "cpu")
    assert a is b and len(calls) == 1
    assert not a.training


def test_least_recently_used_models_are_dropped_under_the_budget():
    one = size_of(100, 100)
    m = models.ModelManager(budget=2 * one + 10)
    m.get("a", lambda: linear(100, 100), "cpu")
    m.get("b", lambda: linear(100, 100), "cpu")
    m.get("a", lambda: pytest.fail("a is still loaded"), "cpu")  # a is now the most recent
    m.get("c", lambda: linear(100, 100), "cpu")
    keys = [x.key[0] for x in m.loaded()]
    assert keys == ["a", "c"]
    assert m.used("cpu") == 2 * one <= m.budget
    assert any(line.startswith("unload b") for line in m.log)


def test_a_model_larger_than_the_budget_still_loads_alone():
    m = models.ModelManager(budget=100)
    m.get("small", lambda: linear(2, 2), "cpu")
    m.get("big", lambda: linear(100, 100), "cpu")
    assert [x.key[0] for x in m.loaded()] == ["big"]
    assert any("larger than the budget" in line for line in m.log)


def test_a_changed_checkpoint_file_loads_anew(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"1")
    m = models.ModelManager(budget=10**9)
    a = m.get("a", lambda: linear(3, 3), "cpu", checkpoint=path)
    path.write_bytes(b"22")
    b = m.get("a", lambda: linear(3, 3), "cpu", checkpoint=path)
    assert a is not b and len(m.loaded()) == 1


def test_fp16_is_used_on_cuda_only():
    m = models.ModelManager(budget=10**9)
    net = m.get("a", lambda: linear(3, 3), "cpu", fp16=True)
    assert net.weight.dtype == torch.float32
    assert m.loaded()[0].dtype == "float32"


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.cuda.OutOfMemoryError on a machine without CUDA."""


def test_out_of_memory_unloads_models_and_retries_once():
    m = models.ModelManager(budget=10**9)
    keep = m.get("keep", lambda: linear(3, 3), "cpu")
    m.get("other", lambda: linear(3, 3), "cpu")
    attempts = []

    def work(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x * 2

    assert m.run(work, 21, keep=(keep,)) == 42
    assert len(attempts) == 2
    assert [x.key[0] for x in m.loaded()] == ["keep"]


def test_a_second_out_of_memory_is_raised_and_other_errors_are_not_retried():
    m = models.ModelManager(budget=10**9)
    with pytest.raises(OutOfMemoryError):
        m.run(lambda: (_ for _ in ()).throw(OutOfMemoryError("out of memory")))
    attempts = []

    def broken():
        attempts.append(1)
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError):
        m.run(broken)
    assert attempts == [1]


def test_oom_detection_matches_torch_and_message_forms():
    assert models.is_out_of_memory(OutOfMemoryError("x"))
    assert models.is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not models.is_out_of_memory(RuntimeError("shape mismatch"))
    if hasattr(torch.cuda, "OutOfMemoryError"):
        assert models.is_out_of_memory(torch.cuda.OutOfMemoryError("x"))


def test_resolve_device_on_this_machine():
    from inpainterz.engine.devices import resolve_device

    assert resolve_device("cpu") == "cpu"
    auto = resolve_device("auto")
    assert auto == ("cuda:0" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda:1")
    with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")


def test_budget_parsing_and_the_process_manager(monkeypatch):
    assert models.parse_size("6G") == 6 << 30 and models.parse_size("512M") == 512 << 20
    assert models.parse_size(1000) == 1000
    monkeypatch.setenv(models.BUDGET_ENV, "1M")
    assert models.ModelManager().budget_for("cpu") == 1 << 20
    assert models.get_manager() is models.get_manager()
