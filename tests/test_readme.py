"""Every command block of the README runs as written (issue 25), so the README cannot drift
from the code: the rule is the README's own "How the README is tested".

Each ```bash block runs, in the README's order, in one bash (``set -e``) inside an empty
folder beside a link to ``../shared``, so its ``../shared/...`` paths resolve and what it
writes stays there; every ``tst run``, ``tst compare`` and ``tst batch`` gets :data:`TINY`
appended (after the block's own flags, so they win) and every ``tst train`` :data:`TINY_TRAIN`;
a block right after ``<!-- readme-test: skip: REASON -->`` is skipped for that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import ROOT, shared_root

README = ROOT / "README.md"
#: appended to every tst run, compare and batch: a 64 px picture, 2 iterations per scale, and
#: gatys's native levels up to 128 px at 2 iterations each (the photo's own size is kept)
TINY = (
    "--size 64 --style-size 64 --set engine.gatys.iterations=2"
    " --set engine.gatys.max_side=128 --set engine.gatys.native_iterations=[2]"
)
#: appended to every tst train: 2 steps on 32 px crops
TINY_TRAIN = "--steps 2 --size 32 --style-size 64 --batch 1"
_TINY_FOR = {"run": TINY, "compare": TINY, "batch": TINY, "train": TINY_TRAIN}
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(.+?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced block: its first line in the README, its text, and why it is skipped."""

    line: int
    text: str
    skip: str | None


def bash_blocks(text: str) -> list[Block]:
    """The ```bash blocks of ``text`` (indented ones too, e.g. inside a list)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if lang == "bash":
            before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            skip = _SKIP.search(before)
            body = "\n".join(ln.removeprefix(indent) for ln in lines[i + 1 : end])
            blocks.append(Block(i + 1, body, skip.group(1) if skip else None))
        i = end + 1
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: bash's comment starts at a ``#`` that begins a word outside
    quotes (``person#0`` is no comment)."""
    quote = ""
    for k, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k].rstrip(), line[k:]
    return line.rstrip(), ""


def tiny(block: str) -> str:
    """``block`` with :data:`TINY` or :data:`TINY_TRAIN` appended to each command of tst."""
    out = []
    for logical in block.replace("\\\n", " ").splitlines():
        command, comment = split_comment(logical)
        words = command.split()
        # skip leading VAR=value assignments
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
            words = words[1:]
        if len(words) >= 2 and words[0] == "tst" and words[1] in _TINY_FOR:
            command = f"{command} {_TINY_FOR[words[1]]}"
        out.append(f"{command} {comment}".rstrip())
    return "\n".join(out)


def test_the_rule_reads_blocks_and_comments_as_bash_does():
    text = "x\n<!-- readme-test: skip: needs the network -->\n```bash\ntst weights fetch a\n```\n"
    text += "  ```bash\n  tst run a.jpg --style person#0=b.jpg \\\n      -o o.png  # c\n  ```\n"
    first, second = bash_blocks(text)
    assert (first.line, first.skip) == (3, "needs the network")
    assert second.skip is None
    assert tiny(second.text) == f"tst run a.jpg --style person#0=b.jpg      -o o.png {TINY} # c"
    assert tiny("TST_OFFLINE=1 tst train --steps 300 'a # b'") == (
        f"TST_OFFLINE=1 tst train --steps 300 'a # b' {TINY_TRAIN}"
    )


def test_the_readme_states_the_rule_this_test_applies():
    text = README.read_text(encoding="utf-8")
    assert TINY in text and TINY_TRAIN in text and "readme-test: skip:" in text


@pytest.mark.slow
@pytest.mark.needs_shared
def test_every_readme_command_block_runs_as_written(tmp_path):
    shared = shared_root()
    if not (shared / "images" / "content" / "bus.jpg").is_file():
        pytest.skip(f"needs the ../shared assets at {shared}")
    (tmp_path / "shared").symlink_to(shared.resolve())
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TST_OFFLINE": "1",
    }
    failed, ran = [], 0
    for block in bash_blocks(README.read_text(encoding="utf-8")):
        if block.skip:
            continue
        script = "set -e\ntrap 'echo \"failed: $BASH_COMMAND\" >&2' ERR\n" + tiny(block.text)
        res = subprocess.run(
            ["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True
        )
        ran += 1
        if res.returncode != 0:
            failed.append(f"README line {block.line}: exit {res.returncode}\n{res.stderr[-1500:]}")
    assert not failed, "\n\n".join(failed)
    assert ran >= 9  # the blocks of Quick start, Use, the feed-forward engines, Segmenters...
