"""``tst ui``'s command line: registered through the plugin hook, loopback by default, another
address only with --allow-remote and a warning, and its mistakes are one line (exit 2)."""

from __future__ import annotations

import socket

import pytest
from tst_ui import command
from tst_ui.command import is_loopback


def test_tst_ui_is_a_plugin_command(cli):
    code, out, _ = cli("plugins")
    assert code == 0
    assert any(line.split()[:1] == ["ui"] and line.endswith("[ui]") for line in out.splitlines())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("0.0.0.0", False), ("192.0.2.10", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_another_address_needs_allow_remote(cli):
    code, out, err = cli("ui", "--host", "0.0.0.0")
    assert code == 2 and out == ""
    assert err.startswith("tst: error: --host 0.0.0.0 is not a loopback address")
    assert err.rstrip().endswith("add --allow-remote if that is what you want")
    assert err.count("\n") == 1


def test_with_allow_remote_it_warns_and_answers_any_host_name(cli, monkeypatch):
    seen = {}
    real_listen = command.listen  # no test binds anything but loopback
    monkeypatch.setattr(command, "listen", lambda host, port: real_listen("127.0.0.1", 0))
    monkeypatch.setattr(command, "serve", lambda server, sock: seen.update(app=server.config.app))
    code, out, err = cli("ui", "--host", "0.0.0.0", "--allow-remote", "--port", "0")
    assert code == 0, err
    assert "tst ui: warning: listening on 0.0.0.0" in err
    assert "anyone who reaches this port can run jobs" in err
    assert out.startswith("tst ui: http://0.0.0.0:")
    hosts = [m for m in seen["app"].user_middleware if m.cls.__name__ == "HostCheck"]
    assert hosts[0].kwargs["allowed_hosts"] == ["*"]


def test_a_port_in_use_and_a_missing_styles_folder_are_one_line(cli, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = cli("ui", "--port", port)
    assert code == 2 and err.startswith(f"tst: error: cannot listen on 127.0.0.1:{port}: ")
    code, _, err = cli("ui", "--styles", tmp_path / "nowhere")
    assert code == 2 and err == f"tst: error: --styles '{tmp_path / 'nowhere'}' is not a folder\n"
    code, _, err = cli("ui", "--config", tmp_path / "missing.toml")
    assert code == 2 and err.startswith("tst: error: config ") and "not found" in err
