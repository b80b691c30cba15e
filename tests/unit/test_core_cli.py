import importlib.util

from govcloud import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_is_a_usage_error(capsys):
    try:
        cli.main(["frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_every_command_module_exists_and_registers():
    for name, (module, _) in cli.COMMANDS.items():
        assert importlib.util.find_spec(module) is not None, f"{name}: module {module} is missing"
        assert hasattr(importlib.import_module(module), "register"), f"{name}: {module}.register missing"
