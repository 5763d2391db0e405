"""Memory budgets: sizes as text, the default budget, and the tensor-memory measurement."""

from __future__ import annotations

import pytest
import torch

from tst_core import memory
from tst_core.memory import TensorMemory, default_budget, format_size, parse_size


@pytest.mark.parametrize(
    "text, size",
    [
        ("4GiB", 4 * 2**30),
        ("4G", 4 * 2**30),
        ("4g", 4 * 2**30),
        ("4GB", 4 * 10**9),
        ("512MiB", 512 * 2**20),
        ("512 MB", 512 * 10**6),
        ("1.5GiB", 3 * 2**29),
        ("2e9", 2 * 10**9),
        ("100000000", 10**8),
        (2**30, 2**30),
        (" 1 TiB ", 2**40),
    ],
)
def test_sizes_are_read_in_binary_and_decimal_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "4 GiBs", "-1G", "1M", "nan", "4 G B", True])
def test_bad_or_tiny_sizes_are_one_sentence(text):
    with pytest.raises(ValueError, match=r"memory (size|budget) must") as err:
        parse_size(text)
    assert "\n" not in str(err.value)


def test_format_size_reads_back():
    assert format_size(3 * 2**29) == "1.5 GiB" and format_size(300 * 2**20) == "300 MiB"


def test_the_default_budget_is_a_share_of_the_free_memory(monkeypatch):
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 5 * 2**30)
    monkeypatch.setattr(memory, "_cgroup_free", lambda: None)
    assert default_budget("cpu") == 5 * 2**29
    monkeypatch.setattr(memory, "_cgroup_free", lambda: 2 * 2**30)  # a container's limit
    assert default_budget("cpu") == 2**30
    monkeypatch.setattr(memory, "_meminfo_available", lambda: None)
    monkeypatch.setattr(memory, "_cgroup_free", lambda: None)
    assert default_budget("cpu") == memory.UNKNOWN_FREE // 2
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 0)
    assert default_budget("cpu") == memory.MIN_BUDGET


def test_the_cpus_default_budget_is_capped_whatever_is_free(monkeypatch):
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 64 * 2**30)
    monkeypatch.setattr(memory, "_cgroup_free", lambda: None)
    assert default_budget("cpu") == memory.CPU_DEFAULT_CAP == 3 * 2**30
    assert default_budget("cpu", share=0.01) == int(0.64 * 2**30)  # below the cap: the share


def test_the_machines_default_budget_is_positive():
    assert memory.MIN_BUDGET <= default_budget("cpu") <= memory.free_memory("cpu")


def test_tensor_memory_counts_the_peak_of_live_tensors_made_inside():
    before = torch.zeros(1000, 1000)  # made outside: not counted
    with TensorMemory() as used:
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # 8 MB live
        del a, b
        c = torch.ones(500, 1000)  # 2 MB after the others were freed
        view = c[:10]  # a view adds nothing
        before.add_(1)  # in place: nothing
    assert used.peak == 8_000_000 and used.live == 2_000_000
    assert view.shape == (10, 1000)
