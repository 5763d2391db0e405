"""The soak's batch-manifest and UI parts (see ``soak.py``): hostile and good cases, some
killed at random, each checked afterwards.

A **batch** case runs ``tst batch --manifest`` (inline or two worker processes) on a manifest
that is good (photos with their masks, outputs in sub-folders), hostile (an output that is
absolute, has ``..``, leads out of ``-o`` through a planted link, holds a NUL; a manifest that
is not UTF-8, nests 10 000 deep, is a FIFO or ``/dev/zero``), or good but killed (SIGINT,
SIGTERM or SIGKILL after a random delay). Afterwards: every job's image and report are there
together or not at all, nothing was written into the folder beside ``-o`` that links point at,
and no batch worker process is alive (an **orphan**).

A **UI** case is one request, or a short sequence, against a ``tst ui`` started once for the
soak: uploads good and bad (truncated, a PNG bomb, text, empty, over the limit), segmentation,
clicks with hostile coordinates, pictures by odd names, bodies that are not objects, jobs good
and bad, random paths. A case passes when no answer is a 5xx and every error is one sentence;
at the end the server is stopped with SIGINT and its uploads must be gone.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _workers(pgid: int) -> list[int]:
    ps = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True
    )
    rows = [line.split(None, 3) for line in ps.stdout.splitlines()]
    return [
        int(r[0])
        for r in rows
        if len(r) == 4 and int(r[1]) == pgid and not r[2].startswith("Z") and "spawn_main" in r[3]
    ]


@dataclass
class BatchSoak:
    """The batch part's folders: ``manifests/``, ``out/`` (one ``-o`` per case, reused in
    turn) and ``elsewhere/`` (where planted links point; nothing may appear in it)."""

    root: Path
    photos: list[Path]
    masks: dict[Path, Path]
    styles: list[Path]
    engine: list[str]
    orphans: int = 0
    outside_writes: int = 0
    inputs_changed: int = 0

    def __post_init__(self) -> None:
        for name in ("manifests", "out", "elsewhere"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def manifest(self, rng: random.Random, n: int, kind: str) -> tuple[Path, list[str]]:
        """A manifest for case ``n``: its path and the job outputs (relative to ``-o``)."""
        path = self.root / "manifests" / f"m{n}.jsonl"
        k = rng.randint(1, 3)
        lines, outputs = [], []
        for i in range(k):
            photo = self.photos[(n + i) % len(self.photos)]
            style = self.styles[(n + i) % len(self.styles)]
            out = f"sub{i % 2}/{photo.stem}_{i}.png"
            lines.append(
                {
                    "photo": str(photo),
                    "styles": [f"person#0={style}"],
                    "masks": str(self.masks[photo]),
                    "output": out,
                }
            )
            outputs.append(out)
        hostile = {
            "absolute output": lambda: lines[0].update(
                output=str(self.root / "elsewhere" / "x.png")
            ),
            "output with ..": lambda: lines[0].update(output="../elsewhere/x.png"),
            "output through a link": lambda: lines[0].update(output="esc/x.png"),
            "NUL in a path": lambda: lines[0].update(photo=str(self.photos[0]) + "\0"),
        }
        if kind in hostile:
            hostile[kind]()
        text = "".join(json.dumps(line) + "\n" for line in lines)
        if kind == "not UTF-8":
            path.write_bytes(text.encode() + b'{"photo": "\xff"}\n')
        elif kind == "nested 10000 deep":
            path.write_text(
                text + '{"photo": "a.jpg", "sets": ' + "[" * 10000 + "]" * 10000 + "}\n"
            )
        elif kind == "FIFO manifest":
            path.unlink(missing_ok=True)
            os.mkfifo(path)
        elif kind == "/dev/zero manifest":
            path.unlink(missing_ok=True)
            path.symlink_to("/dev/zero")
        else:
            path.write_text(text)
        return path, outputs

    def case(self, rng: random.Random, n: int, kill: tuple[str, float] | None) -> dict[str, Any]:
        kinds = ["good"] * 6 + [
            "absolute output",
            "output with ..",
            "output through a link",
            "NUL in a path",
            "not UTF-8",
            "nested 10000 deep",
            "FIFO manifest",
            "/dev/zero manifest",
        ]
        kind = "good" if kill else rng.choice(kinds)
        out = self.root / "out" / f"o{n % 3}"
        out.mkdir(exist_ok=True)
        link = out / "esc"
        if not link.is_symlink():
            link.symlink_to(self.root / "elsewhere")
        manifest, outputs = self.manifest(rng, n, kind)
        executor = ["--jobs", "2"] if rng.random() < 0.4 else ["--executor", "inline"]
        argv = ["batch", "--manifest", str(manifest), "-o", str(out), "--segmenter", "maskfile"]
        argv += [*self.engine, *executor]
        before = sorted(p.name for p in (self.root / "elsewhere").iterdir())
        inputs = _hashes([manifest, *self.photos, *self.styles, *self.masks.values()])
        proc = subprocess.Popen(
            [sys.executable, "-m", "tst_core", *argv],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "TST_MAX_PIXELS": "80000000"},
        )
        if kill is not None:
            try:
                proc.wait(timeout=kill[1])
            except subprocess.TimeoutExpired:
                proc.send_signal(getattr(signal, kill[0]))
        try:
            _, err = proc.communicate(timeout=600)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            code = -999
        deadline = time.monotonic() + 15
        while _workers(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = _workers(proc.pid)
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        after = sorted(p.name for p in (self.root / "elsewhere").iterdir())
        problems = []
        changed = [k for k, v in _hashes([Path(k) for k in inputs]).items() if inputs[k] != v]
        if changed:
            self.inputs_changed += len(changed)
            problems.append(f"inputs changed: {changed}")
        if orphans:
            self.orphans += len(orphans)
            problems.append(f"{len(orphans)} worker(s) outlived the batch")
        if after != before:
            self.outside_writes += 1
            problems.append(f"wrote outside -o: {sorted(set(after) - set(before))}")
        lines = err.strip().splitlines()
        expected = {"good": (0,)}.get(kind, (2,))
        if kill is None and code not in expected:
            problems.append(f"exit {code}: {err.strip()[-300:]!r}")
        if code == 2 and len(lines) != 1:
            problems.append(f"exit 2 with {len(lines)} lines")
        if code in (1, -999):
            problems.append(f"exit {code}")
        for rel in outputs:
            image, report = out / rel, (out / rel).with_suffix(".json")
            if image.exists() != report.exists():
                problems.append(f"half a pair: {rel}")
            elif code == 0 and not image.exists():
                problems.append(f"exit 0 without {rel}")
        return {"kind": f"batch: {kind}", "code": code, "problems": problems}


CLOSED = 0  # no HTTP status: the connection closed while the request was sent


@dataclass
class UiSoak:
    """A ``tst ui`` for the soak's requests; :meth:`stop` checks its uploads are gone."""

    root: Path
    photo: Path
    masks: Path
    styles: Path
    config: Path
    url: str = ""
    proc: subprocess.Popen[str] | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        argv = [sys.executable, "-m", "tst_core", "ui", "--port", "0", "--workdir", str(self.root)]
        argv += [
            "--styles",
            str(self.styles),
            "--segmenter",
            "maskfile",
            "--masks",
            str(self.masks),
        ]
        argv += ["--config", str(self.config), "--max-upload-mb", "2", "--abandon-after", "600"]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        first = self.proc.stdout.readline() if self.proc.stdout else ""
        found = re.search(r"http://\S+/", first)
        self.url = found.group(0) if found else ""
        if not self.url:
            raise SystemExit(f"tst ui did not start: {first!r}")

    def stop(self) -> list[str]:
        """SIGINT, as Ctrl-C; the problems found (exit status, uploads left)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=120)
        left = [p for p in (self.root / "uploads").rglob("*") if p.is_file()]
        problems = [f"tst ui exited {code}"] if code != 0 else []
        return problems + [f"{len(left)} uploads left after the server stopped"] * bool(left)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        page: str = "",
    ) -> tuple[int, Any]:
        sent = {"X-Tst-Ui": "1", **(headers or {})}
        if page:
            sent["Cookie"] = f"tst_session={page}"
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=300) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        except urllib.error.URLError as exc:
            # a body over --max-upload-mb is refused from its Content-Length before it is read:
            # the server answers and closes while urllib is still sending, so no status is seen
            if not isinstance(exc.reason, (BrokenPipeError, ConnectionResetError)):
                raise
            return CLOSED, "the server closed the connection while the body was sent"
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw[:100]

    def case(self, rng: random.Random, n: int, bad: dict[str, Path]) -> dict[str, Any]:
        page = f"soakpage{n % 5:02d}"
        answers: list[tuple[str, int, Any]] = []

        def ask(label: str, *args: Any, **kw: Any) -> Any:
            status, answer = self.call(*args, page=page, **kw)
            answers.append((label, status, answer))
            return answer if status == 200 else None

        kind = rng.choice(["upload bad", "upload good", "hostile request", "job", "random path"])
        if kind == "upload bad":
            name = rng.choice(sorted(bad))
            ask(name, "POST", "api/photos", bad[name].read_bytes() or b"", {"X-Filename": "x.png"})
            kind = f"upload: {name}"
            status = answers[-1][1]
            early = name == "over the limit" and status == CLOSED
            if not (400 <= status < 500 or early):  # refused, with one sentence
                answers.append((f"{answers[-1][0]} answered {answers[-1][1]}", 500, None))
        elif kind == "upload good":
            ask(
                "photo",
                "POST",
                "api/photos",
                self.photo.read_bytes(),
                {"X-Filename": self.photo.name},
            )
        elif kind == "hostile request":
            photo = ask(
                "photo", "POST", "api/photos", self.photo.read_bytes(), {"X-Filename": "p.jpg"}
            )
            seg = photo and ask(
                "segment", "POST", "api/segment", {"photo": photo["id"], "segmenter": "maskfile"}
            )
            sid = seg["id"] if seg else "nope"
            choice = rng.choice(
                ["body []", "body 5", "body null", "x nan", "x 1e400", "id 5000", "name ²"]
            )
            if choice.startswith("body"):
                ask(choice, "POST", "api/jobs", json.loads(choice.split()[1]))
            elif choice.startswith("x"):
                ask(choice, "GET", f"api/segmentations/{sid}/hit?x={choice.split()[1]}&y=1")
            elif choice == "id 5000":
                ask(choice, "GET", f"api/segmentations/{sid}/{'9' * 5000}.png")
            else:
                ask(choice, "GET", f"api/segmentations/{sid}/%C2%B2.png")
            kind = f"request: {choice}"
            if not 400 <= answers[-1][1] < 500:  # refused, with one sentence
                answers.append((f"{answers[-1][0]} answered {answers[-1][1]}", 500, None))
        elif kind == "job":
            kind = self._job(rng, ask, answers)
        else:
            tail = "".join(rng.choice("abc/%.٣²\x00'\"<>?&=") for _ in range(rng.randint(0, 12)))
            from urllib.parse import quote

            ask("random", rng.choice(["GET", "POST"]), f"api/{quote(tail, safe='/%?=&')}", b"{}")
        problems = [f"{label}: HTTP {status}" for label, status, _ in answers if status >= 500] + [
            f"{label}: a two-line error"
            for label, _, answer in answers
            if isinstance(answer, dict) and "\n" in str(answer.get("error", ""))
        ]
        return {
            "kind": f"ui: {kind}",
            "code": max((s for _, s, _ in answers), default=0),
            "problems": problems,
        }

    def _job(self, rng: random.Random, ask: Any, answers: list[tuple[str, int, Any]]) -> str:
        """Half the jobs good (the ``--config`` preset, 32 px, a gallery style): they must end
        ``done`` and their image and report download; the rest with one hostile field, which
        must be refused with one sentence (a 4xx)."""
        photo = ask("photo", "POST", "api/photos", self.photo.read_bytes(), {"X-Filename": "p.jpg"})
        seg = photo and ask(
            "segment", "POST", "api/segment", {"photo": photo["id"], "segmenter": "maskfile"}
        )
        info = ask("info", "GET", "api/info") or {}
        preset = (info.get("defaults") or {}).get("config", "")
        body: dict[str, Any] = {
            "kind": rng.choice(["run", "run", "compare"]),
            "segmentation": seg["id"] if seg else "x",
            "engine": "gatys",
            "blend": "feather",
            "size": 32,
            "config": preset,
            "targets": [{"select": rng.choice(["id:0", "all"]), "style": "s0", "deg": 1.0}],
        }
        hostile = {
            "size 0": ("size", 0),
            "size 10**6": ("size", 10**6),
            "size 32.5": ("size", 32.5),
            "size true": ("size", True),
            "style unknown": ("targets", [{"select": "all", "style": "nope", "deg": 1}]),
            "select id:99": ("targets", [{"select": "id:99", "style": "s0", "deg": 1}]),
            "deg nan": ("targets", [{"select": "all", "style": "s0", "deg": float("nan")}]),
            "targets {}": ("targets", {}),
            "engine ../x": ("engine", "../x"),
            "config /etc/passwd": ("config", "/etc/passwd"),
            "kind rm": ("kind", "rm"),
        }
        bad = rng.choice(sorted(hostile)) if rng.random() < 0.5 else None
        if bad is not None:
            key, value = hostile[bad]
            body[key] = value
        job = ask("job", "POST", "api/jobs", body)
        if bad is not None:
            if job is not None:
                answers.append((f"hostile job '{bad}' accepted", 500, None))
            return f"job: hostile {bad}"
        deadline = time.monotonic() + 600
        while (
            job
            and job.get("state") not in ("done", "failed", "cancelled")
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
            job = ask("status", "GET", f"api/jobs/{job['id']}")
        if not job or job.get("state") != "done":
            answers.append((f"good job ended {job and job.get('state')}: {job}"[:200], 500, None))
            return "job: good, failed"
        for name in ("image", "sheet", "report"):
            url = (job.get("result") or {}).get(name)
            if url:
                ask(f"download {name}", "GET", url.lstrip("/"))
                if answers[-1][1] != 200:
                    answers.append((f"download {name} answered {answers[-1][1]}", 500, None))
        return f"job: good {body['kind']}, done"


def _hashes(paths: list[Path]) -> dict[str, str]:
    """SHA-256 of each regular file among ``paths`` (a folder: of each file in it)."""
    import hashlib

    files = []
    for p in paths:
        if p.is_dir():
            files += [f for f in sorted(p.rglob("*")) if f.is_file() and not f.is_symlink()]
        elif p.is_file() and not p.is_symlink():
            files.append(p)
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def make_bad_uploads(folder: Path, photo: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = photo.read_bytes()
    bad = {
        "truncated": folder / "t.jpg",
        "text": folder / "x.png",
        "empty": folder / "e.png",
        "bomb": folder / "bomb.png",
        "over the limit": folder / "big.bin",
    }
    bad["truncated"].write_bytes(data[: len(data) // 3])
    bad["text"].write_text("not an image")
    bad["empty"].write_bytes(b"")
    Image.new("L", (1, 1)).save(bad["bomb"])
    raw = bytearray(bad["bomb"].read_bytes())
    raw[16:24] = (100_000).to_bytes(4, "big") * 2
    bad["bomb"].write_bytes(bytes(raw))
    bad["over the limit"].write_bytes(os.urandom(3 * 1000 * 1000))
    return bad


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
