"""Fetching a record into the cache: verified, locked, all-or-nothing, offline, mirrored."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from tst_core import hub
from tst_core.errors import WeightsError
from tst_core.records import WeightsRecord, records

from ..conftest import ROOT

BODY = bytes(range(256)) * 256  # 64 KiB


def leftovers(cache):
    """Files in the cache other than lock files."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


def test_fetch_verifies_caches_and_then_makes_no_request(online, server, capsys):
    rec = server.record("tiny.pth", BODY)
    path = hub.fetch(rec, progress=False)
    assert path == online / "tiny.pth" and path.read_bytes() == BODY
    assert server.count("tiny.pth") == 1 and leftovers(online) == ["tiny.pth"]
    assert f"fetching tiny (0.1 MiB) from {rec.url}" in capsys.readouterr().err
    assert hub.resolve(rec) == path and hub.fetch(rec) == path
    assert server.count("tiny.pth") == 1


def test_torchvision_style_hash_prefix_is_checked(online, server):
    prefix = hashlib.sha256(BODY).hexdigest()[:8]
    good = replace(server.record(f"net-{prefix}.pth", BODY), sha256=None)
    assert good.hash_prefix == prefix and hub.fetch(good, progress=False).is_file()
    bad = replace(server.record("net-0badbeef.pth", BODY), sha256=None)
    with pytest.raises(WeightsError, match="expected 0badbeef…"):
        hub.fetch(bad, progress=False)
    assert leftovers(online) == [good.file_name]


def test_wrong_hash_deletes_the_file_and_is_one_line(online, server):
    rec = server.record("tiny.pth", BODY, digest_of=b"something else")
    with pytest.raises(WeightsError) as err:
        hub.fetch(rec, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and f"tiny from {rec.url} has SHA-256" in msg and "deleted" in msg
    assert leftovers(online) == []


def test_truncated_download_leaves_nothing(online, server):
    rec = server.record("tiny.pth", BODY, mode="truncated")
    with pytest.raises(WeightsError, match=r"truncated: 32768 of 65536 bytes|broke off after") as e:
        hub.fetch(rec, progress=False)
    assert "\n" not in str(e.value) and leftovers(online) == []


def test_size_of_the_record_is_checked(online, server):
    rec = replace(server.record("tiny.pth", BODY), size=len(BODY) + 1)
    with pytest.raises(WeightsError, match="has 65536 bytes, not the 65537"):
        hub.fetch(rec, progress=False)
    assert leftovers(online) == []


def test_http_errors_and_unreachable_hosts_are_one_line(online, server):
    missing = replace(server.record("tiny.pth", BODY), url=f"{server.url}/nope.pth")
    with pytest.raises(WeightsError, match=r"cannot fetch tiny from .*/nope.pth: HTTP 404"):
        hub.fetch(missing, progress=False)
    closed = replace(missing, url="http://127.0.0.1:9/tiny.pth")  # the discard port: refused
    with pytest.raises(WeightsError) as err:
        hub.fetch(closed, progress=False)
    assert "cannot fetch tiny" in str(err.value) and "TST_WEIGHTS_URL" in str(err.value)
    assert leftovers(online) == []


def test_an_unwritable_cache_is_one_line(server, monkeypatch, tmp_path):
    monkeypatch.delenv(hub.OFFLINE_ENV)
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "file"))
    monkeypatch.setattr("torch.hub._hub_dir", None)
    with pytest.raises(WeightsError, match="cannot create the checkpoint cache .*set TORCH_HOME"):
        hub.fetch(server.record("tiny.pth", BODY), progress=False)
    assert server.count("tiny.pth") == 0


def test_a_silent_server_times_out(online, server, monkeypatch):
    monkeypatch.setenv(hub.TIMEOUT_ENV, "0.3")
    rec = server.record("tiny.pth", BODY, mode="slow", chunk=4096, delay=2.0)
    with pytest.raises(WeightsError, match="broke off after 4096 bytes .*timed out"):
        hub.fetch(rec, progress=False)
    assert leftovers(online) == []


def test_offline_forbids_any_request_and_names_file_url_and_command(online, server, monkeypatch):
    rec = server.record("tiny.pth", BODY)
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")
    with pytest.raises(WeightsError) as err:
        hub.resolve(rec, option="--weights FILE", alternatives="or use --segmenter yolo")
    msg = str(err.value)
    assert "'tiny.pth' is not in" in msg and str(online) in msg and rec.url in msg
    assert "`tst weights fetch tiny`" in msg and msg.endswith(
        "--weights FILE, or use --segmenter yolo"
    )
    with pytest.raises(WeightsError, match="forbids fetching tiny"):
        hub.fetch(rec)
    assert server.count("tiny.pth") == 0


def test_a_cached_file_of_the_wrong_size_is_refused(online, server):
    rec = replace(server.record("tiny.pth", BODY), size=len(BODY))
    online.mkdir(parents=True)
    (online / "tiny.pth").write_bytes(BODY[:100])
    with pytest.raises(WeightsError, match="has 100 bytes, not the 65536 of tiny; delete it"):
        hub.resolve(rec)
    (online / "tiny.pth").write_bytes(BODY)
    assert hub.resolve(rec) == online / "tiny.pth" and server.count("tiny.pth") == 0


@pytest.mark.parametrize("name", ["maskrcnn-v2-coco", "deeplabv3-resnet50-voc", "vgg16-imagenet"])
def test_a_file_torchvision_fetched_is_reused(torch_home, monkeypatch, name):
    """torchvision's own ``Weights.get_state_dict()`` (its download stubbed to write a small
    state dict where torchvision puts it) leaves the file that resolve() then returns, offline,
    with nothing fetched."""
    import torch

    from tst_core.records import records, torchvision_weights

    def download(url, dst, hash_prefix=None, progress=True):
        torch.save({"w": torch.zeros(2)}, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    torchvision_weights(records()[name].torchvision).get_state_dict(progress=False)
    fetched = list((torch_home / "hub" / "checkpoints").iterdir())
    assert hub.resolve(records()[name]) == fetched[0] and len(fetched) == 1  # offline here


def test_an_explicit_path_wins_without_a_request(online, server, tmp_path):
    rec = server.record("tiny.pth", BODY)
    mine = tmp_path / "mine.pth"
    mine.write_bytes(b"x")
    assert hub.resolve(rec, path=mine) == mine
    with pytest.raises(WeightsError, match="checkpoint '.*nope.pth' does not exist"):
        hub.resolve(rec, path=tmp_path / "nope.pth")
    assert server.count("tiny.pth") == 0


def test_a_mirror_serves_every_file_under_its_cache_name(online, server, monkeypatch, tmp_path):
    rec = replace(server.record("tiny.pth", BODY), url="https://example.invalid/models/tiny.pth")
    server.serve("mirror/tiny.pth", BODY)
    monkeypatch.setenv(hub.MIRROR_ENV, f"{server.url}/mirror/")
    assert hub.source_url(rec) == f"{server.url}/mirror/tiny.pth"
    assert hub.fetch(rec, progress=False).read_bytes() == BODY
    assert server.count("mirror/tiny.pth") == 1
    # a folder on a file server works too (file://)
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "other.pth").write_bytes(BODY)
    other = replace(rec, name="other", file_name="other.pth")
    monkeypatch.setenv(hub.MIRROR_ENV, folder.as_uri())
    assert hub.fetch(other, progress=False).read_bytes() == BODY


def test_records_are_well_formed_and_cover_every_plugin():
    table = records()
    plugins = {r.plugin for r in table.values()}
    assert plugins == {"torchvision", "semantic", "sam", "gatys", "yolo", "text"}
    for rec in table.values():
        assert rec.url.startswith("https://"), rec.name
        if rec.pending:  # listed, never fetched: its digest is not recorded yet (OWLv2)
            assert rec.sha256 is None and rec.hash_prefix is None, rec.name
        else:
            assert rec.file_name == rec.url.rsplit("/", 1)[-1], rec.name
            assert rec.sha256 or rec.hash_prefix, rec.name
        assert rec.licence and rec.size_mib and rec.size_mib > 1, rec.name
    assert table["maskrcnn-v2-coco"].hash_prefix == "73cbd019"
    assert table["sam-vit-b"].size == 375_042_383
    with pytest.raises(ValueError, match="give a sha256 or a file name with a hash prefix"):
        WeightsRecord("x", "https://h/x.pth", "p", "a", "l")


# --- two processes --------------------------------------------------------------------------

CHILD = """
import sys
from tst_core.hub import fetch
from tst_core.records import WeightsRecord

rec = WeightsRecord("slow", sys.argv[1], "test", "tiny", "none", sha256=sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # imports are done; fetch when the test says so
print(fetch(rec, progress=False))
"""


def fetcher(url: str, sha: str, torch_home) -> subprocess.Popen[str]:
    """A child process that fetches a record once :func:`go` is called."""
    env = {k: v for k, v in os.environ.items() if k != hub.OFFLINE_ENV}
    env["TORCH_HOME"] = str(torch_home)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, sha],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def go(child: subprocess.Popen[str]) -> None:
    """Let ``child`` fetch, once it has started and imported tst."""
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    child.stdin.write("go\n")
    child.stdin.flush()


def wait_for(condition, seconds=30.0):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.02)


def test_a_download_killed_midway_leaves_no_file_and_the_next_one_succeeds(
    online, server, torch_home
):
    rec = server.record("slow.pth", BODY, mode="slow", chunk=2048, delay=0.05)
    child = fetcher(rec.url, rec.sha256, torch_home)
    go(child)
    wait_for(lambda: server.sent["/slow.pth"] >= 8192)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert server.sent["/slow.pth"] < len(BODY)
    assert not (online / "slow.pth").exists()  # at most slow.pth.part was left
    server.routes["/slow.pth"].mode = "ok"
    path = hub.fetch(rec, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rec.sha256
    assert leftovers(online) == ["slow.pth"]


CLI = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background shell may ignore it
from tst_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("sig", "code", "line"), [
    (signal.SIGINT, 130, "tst: interrupted"),
    (signal.SIGTERM, 128 + signal.SIGTERM, "tst: terminated"),
])  # fmt: skip
def test_tst_weights_fetch_stopped_midway_removes_its_part_file(
    online, server, torch_home, sig, code, line
):
    """Ctrl-C or SIGTERM during ``tst weights fetch``: exit 130/143, one line, and neither the
    final file nor the ``.part`` is left (SIGKILL, above, can leave only the ``.part``)."""
    name = records()["vgg11-imagenet"].file_name
    server.serve(f"mirror/{name}", BODY, mode="slow", chunk=2048, delay=0.05)
    env = {k: v for k, v in os.environ.items() if k != hub.OFFLINE_ENV}
    env |= {"TORCH_HOME": str(torch_home), hub.MIRROR_ENV: f"{server.url}/mirror"}
    child = subprocess.Popen(
        [sys.executable, "-c", CLI, "weights", "fetch", "vgg11-imagenet"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: server.sent[f"/mirror/{name}"] >= 8192, seconds=60)
    child.send_signal(sig)
    _, err = child.communicate(timeout=30)
    assert child.returncode == code, err
    assert err.splitlines()[-1] == line and "fetching vgg11-imagenet" in err, err
    assert len(err.splitlines()) == 2  # the fetch notice and that line
    assert server.sent[f"/mirror/{name}"] < len(BODY) and leftovers(online) == []


def test_a_progress_bar_counts_the_bytes(online, server, capsys):
    hub.fetch(server.record("tiny.pth", BODY), progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()[-1]
    assert bar.startswith("tiny: 100%") and "64.0k/64.0k" in bar, bar


def test_two_processes_fetching_one_file_download_it_once(online, server, torch_home):
    rec = server.record("slow.pth", BODY, mode="slow", chunk=8192, delay=0.1)
    first, second = (fetcher(rec.url, rec.sha256, torch_home) for _ in range(2))
    go(first)
    wait_for(lambda: server.sent["/slow.pth"] > 0)  # the first holds the lock
    go(second)
    outs = [p.communicate(timeout=60) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert {out.strip() for out, _ in outs} == {str(online / "slow.pth")}
    assert "waiting for another process fetching slow" in outs[1][1]
    assert server.count("slow.pth") == 1
    assert hashlib.sha256((online / "slow.pth").read_bytes()).hexdigest() == rec.sha256
    assert leftovers(online) == ["slow.pth"]


def test_a_failed_fetch_names_the_other_ways_its_caller_gives(online, server):
    """The default segmenter without network: the message says which segmenters need no
    download, as the offline message does."""
    closed = replace(server.record("tiny.pth", BODY), url="http://127.0.0.1:9/tiny.pth")
    with pytest.raises(WeightsError) as err:
        hub.resolve(closed, option="--weights FILE", alternatives="or use --segmenter grabcut")
    assert str(err.value).startswith("cannot fetch tiny from http://127.0.0.1:9/tiny.pth: ")
    assert str(err.value).endswith(", or pass --weights FILE, or use --segmenter grabcut")
