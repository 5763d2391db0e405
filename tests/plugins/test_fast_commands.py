"""``tst model show``'s plain text (tst_fast.commands)."""

from __future__ import annotations

from tst_fast.commands import _fields


def test_model_show_prints_one_field_a_line_and_summarises_the_training_curve():
    history = [{"step": s, "total": 10.0 / s} for s in range(1, 301)]
    lines = _fields({"steps": 300, "lr": 0.02, "held_out": ["a.jpg"], "history": history})
    assert lines[:3] == ["steps: 300", "lr: 0.02", 'held_out: ["a.jpg"]']
    assert lines[3] == (
        'history: 300 entries, first {"step": 1, "total": 10.0}, '
        'last {"step": 300, "total": 0.03333333333333333} (--json: all)'
    )
