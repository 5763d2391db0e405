"""``tst train`` refuses user mistakes with one line and exit 2, never an internal error (issue
23 class 7): non-finite, negative or enormous numbers, ``--resume`` of a finished run, and
training-state files that are not this run's (another file, wrong shapes, NaN moments, a bad
step, a random state torch cannot take, a FIFO)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tst_fast.train import state_path, train

from tst_core.errors import InputError

from ..plugins.test_fast_train import make_job


@pytest.fixture
def job(tmp_path):
    return make_job(tmp_path)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A 2-step run's model and training state, trained once for the module."""
    part = replace(make_job(tmp_path_factory.mktemp("train")), steps=2)
    train(part)
    return part


def _cli_args(job) -> list[str]:
    args = ["train", "--content", job.content, "-o", job.output, "--init-from", job.init_from]
    for s in job.styles:
        args += ["--style", s]
    return [*args, "--size", 64, "--batch", 2, "--steps", 2, "--holdout", 1, "--device", "cpu"]


BAD = {
    "--lr nan": ("--lr", "nan"),
    "--lr inf": ("--lr", "inf"),
    "--lr -1": ("--lr", "-1"),
    "--lr 0": ("--lr", "0"),
    "--content-weight nan": ("--content-weight", "nan"),
    "--content-weight -1": ("--content-weight", "-1"),
    "--style-weight inf": ("--style-weight", "inf"),
    "--tv-weight -0.5": ("--tv-weight", "-0.5"),
    "--degree 400": ("--degree", "400"),
    "--degree nan": ("--degree", "nan"),
    "--size 10**9": ("--size", str(10**9)),
    "--batch 10**9": ("--batch", str(10**9)),
    "--batch 0": ("--batch", "0"),
    "--seed 2**70": ("--seed", str(2**70)),
    "--seed -1": ("--seed", "-1"),
    "--threads 0": ("--threads", "0"),
    "--style-size 5": ("--style-size", "5"),
    "--holdout -1": ("--holdout", "-1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_numbers_are_one_line_and_exit_2(cli, job, case):
    code, _, err = cli(*_cli_args(job), *BAD[case])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert BAD[case][0] in err and "internal error" not in err, err
    assert not job.output.exists()


def test_resume_of_a_finished_run_is_one_line(cli, finished, tmp_path):
    job = replace(finished, output=tmp_path / "run.safetensors")
    shutil.copy(finished.output, job.output)
    shutil.copy(state_path(finished.output), state_path(job.output))
    code, _, err = cli(*_cli_args(job), "--resume")
    assert code == 2 and "already finished its 2 steps" in err, err


def _rewrite(path, change) -> None:
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    change(meta, tensors)
    save_file(tensors, str(path), metadata=meta)


def _first_moment(tensors) -> str:
    return next(k for k in tensors if k.endswith("exp_avg"))


STATES = {
    "a text file": lambda p: p.write_text("not a training state"),
    "a FIFO": lambda p: (p.unlink(), os.mkfifo(p)),
    "step 'abc'": lambda p: _rewrite(p, lambda m, t: m.update(step="abc")),
    "step -5": lambda p: _rewrite(p, lambda m, t: m.update(step="-5")),
    "step 10**12": lambda p: _rewrite(p, lambda m, t: m.update(step=str(10**12))),
    "seconds nan": lambda p: _rewrite(p, lambda m, t: m.update(seconds="nan")),
    "no step": lambda p: _rewrite(p, lambda m, t: m.pop("step")),
    "history nested 1000 deep": lambda p: _rewrite(
        p, lambda m, t: m.update(history="[" * 1000 + "]" * 1000)
    ),
    "history not a list": lambda p: _rewrite(p, lambda m, t: m.update(history='{"a": 1}')),
    "no random state": lambda p: _rewrite(p, lambda m, t: t.pop("generator")),
    "a random state of the wrong size": lambda p: _rewrite(
        p, lambda m, t: t.update(generator=torch.zeros(7, dtype=torch.uint8))
    ),
    "a moment of the wrong shape": lambda p: _rewrite(
        p, lambda m, t: t.update({_first_moment(t): torch.zeros(3, 3)})
    ),
    "NaN moments": lambda p: _rewrite(
        p,
        lambda m, t: t.update(
            {_first_moment(t): torch.full_like(t[_first_moment(t)], float("nan"))}
        ),
    ),
    "an unknown tensor": lambda p: _rewrite(
        p, lambda m, t: t.update({"opt.99999.exp_avg": torch.zeros(1)})
    ),
    "a missing moment": lambda p: _rewrite(p, lambda m, t: t.pop(_first_moment(t))),
}


@pytest.mark.parametrize("case", sorted(STATES))
def test_a_hostile_training_state_is_one_input_error(finished, tmp_path, case):
    part = replace(finished, output=tmp_path / "run.safetensors")
    shutil.copy(finished.output, part.output)
    shutil.copy(state_path(finished.output), state_path(part.output))
    STATES[case](state_path(part.output))
    with pytest.raises(InputError) as err:
        train(replace(part, steps=4, resume=True))
    assert "\n" not in str(err.value) and "--resume" in str(err.value), err.value


def test_a_good_state_still_resumes(finished, tmp_path):
    part = replace(finished, output=tmp_path / "run.safetensors")
    shutil.copy(finished.output, part.output)
    shutil.copy(state_path(finished.output), state_path(part.output))
    assert train(replace(part, steps=3, resume=True)).training["step"] == 3
