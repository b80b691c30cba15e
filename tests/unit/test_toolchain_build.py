"""Recipe hashing, cache reuse, links and build order (builds are mocked here; real ones are integration)."""

from __future__ import annotations

import json
import os

import pytest

from govcloud import paths, toolchain
from govcloud.errors import UserError
from govcloud.toolchain import build


def _spec(module_dir, **extra):
    spec = {"version": "1.2.3", "module": str(module_dir), "binaries": {"tool": "./cmd/tool"}, "ldflags": ["-s"]}
    spec.update(extra)
    return spec


@pytest.fixture
def module(tmp_path):
    mod = tmp_path / "mod"
    (mod / "cmd" / "tool").mkdir(parents=True)
    (mod / "go.mod").write_text("module example.com/tool\n")
    (mod / "go.sum").write_text("")
    (mod / "cmd" / "tool" / "main.go").write_text("package main\nfunc main() {}\n")
    return mod


def test_recipe_hash_tracks_pins_sources_and_go(module):
    spec = _spec(module)
    base = build.recipe_hash("tool", spec, "go1.26.8")
    assert base == build.recipe_hash("tool", dict(spec), "go1.26.8")
    assert base != build.recipe_hash("tool", _spec(module, version="1.2.4"), "go1.26.8")
    assert base != build.recipe_hash("tool", spec, "go1.27.0")
    (module / "cmd" / "tool" / "main.go").write_text("package main\nfunc main() { println() }\n")
    changed = build.recipe_hash("tool", spec, "go1.26.8")
    assert changed != base
    # With an explicit source list, files outside it do not matter.
    only_mod = _spec(module, sources=[])
    h1 = build.recipe_hash("tool", only_mod, "go1.26.8")
    (module / "cmd" / "tool" / "main.go").write_text("package main\n")
    assert build.recipe_hash("tool", only_mod, "go1.26.8") == h1
    (module / "go.sum").write_text("x v1 h1:abc\n")
    assert build.recipe_hash("tool", only_mod, "go1.26.8") != h1


def test_ensure_reuses_a_complete_cache_entry(module, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_CACHE", str(tmp_path / "cache"))
    venv = tmp_path / "venv-bin"
    monkeypatch.setattr(paths, "venv_bin", lambda: venv)
    spec = _spec(module)
    monkeypatch.setattr(toolchain, "pins", lambda: {"go_min": "1.25", "tools": {"tool": spec}})
    calls = []

    def fake_build(name, spec_, go, entry):
        calls.append(name)
        entry.mkdir(parents=True)
        (entry / "tool").write_text("#!/bin/sh\necho 1.2.3\n")
        os.chmod(entry / "tool", 0o755)
        (entry / "build.json").write_text(json.dumps({"seconds": 12.5, "peak_mib": 100}))
        return build.Result(name, spec_["version"], True, 12.5, 100, entry)

    monkeypatch.setattr(build, "build", fake_build)
    first = build.ensure("tool", "go", "go1.26.8")
    assert first.built and calls == ["tool"]
    assert (venv / "tool").resolve() == (first.path / "tool").resolve()
    second = build.ensure("tool", "go", "go1.26.8")
    assert not second.built and calls == ["tool"], "a cached tool must not be rebuilt"
    assert second.notes == [], "links already correct: nothing to do"
    assert second.seconds == 12.5


def test_link_replaces_a_wrong_link(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    dest = tmp_path / "bin" / "tool"
    assert build.link(a, dest)
    assert not build.link(a, dest)
    assert build.link(b, dest)
    assert dest.read_text() == "b"


def test_order_puts_needs_first(monkeypatch):
    tools = {"plugin": {"needs": ["cli"]}, "cli": {}, "other": {}}
    monkeypatch.setattr(toolchain, "pins", lambda: {"tools": tools})
    order = build.order()
    assert order.index("cli") < order.index("plugin")
    assert sorted(order) == sorted(tools)


def test_missing_go_is_a_clear_user_error(monkeypatch):
    monkeypatch.delenv("GOVCLOUD_GO", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(build, "GO_CANDIDATES", ("/nonexistent/go",))
    with pytest.raises(UserError, match="Go toolchain was not found"):
        build.find_go()


def test_pins_are_consistent():
    pins = toolchain.pins()
    for name, spec in pins["tools"].items():
        assert (paths.REPO / spec["module"] / "go.mod").is_file(), name
        assert (paths.REPO / spec["module"] / "go.sum").is_file(), name
        assert spec["binaries"], name
        for dep in spec.get("needs", []):
            assert dep in pins["tools"]
    assert pins["tools"]["pulumi-resource-openstack"]["plugin"]["version"] == "5.5.3"
