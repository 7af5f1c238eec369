"""deploy/ parses, and agrees with the settings bot/settings.py reads: none missing, none stale."""

from __future__ import annotations

import ast
import configparser
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hipcoach.bot.settings import Settings, settings_from_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_NAME = re.compile(r"(?:HIPCOACH|TELEGRAM)_[A-Z0-9_]+")
# Read by bot/settings.py only to find the default data directory; the platform sets them, not the operator.
PLATFORM_VARIABLES = {"HOME", "XDG_DATA_HOME"}


def _names_read(tree: ast.AST) -> set[str]:
    """String constants used as environment keys: env.get("X"), environ["X"], getenv("X")."""
    names = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            receiver = func.value if isinstance(func, ast.Attribute) else None
            receiver_name = getattr(receiver, "id", getattr(receiver, "attr", ""))
            if (called == "get" and receiver_name in {"env", "environ"}) or called == "getenv":
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", "") in {"env", "environ"}:
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def _setting_constants(tree: ast.AST) -> set[str]:
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SETTING_NAME.fullmatch(node.value)
    }


SETTINGS_MODULE = ROOT / "bot" / "settings.py"
SETTINGS_TREE = ast.parse(SETTINGS_MODULE.read_text())
READ = _names_read(SETTINGS_TREE)
# Each Settings field is read from the variable named by its alias (bot/settings.py's Environment).
SETTINGS = {name for name in READ if SETTING_NAME.fullmatch(name)} | _setting_constants(SETTINGS_TREE)


def names_in(text: str) -> set[str]:
    return set(SETTING_NAME.findall(text))


def env_file(path: Path) -> dict[str, str]:
    """NAME=VALUE lines, as docker compose and systemd read them; each must follow a comment line."""
    values: dict[str, str] = {}
    previous = ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f"{path.name}:{number}: {line!r}"
            assert name not in values, f"{path.name}:{number}: {name} is set twice"
            assert previous.startswith("# "), f"{path.name}:{number}: {name} has no comment line above it"
            values[name] = value
        previous = line
    return values


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, pending = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    instructions = []
    for line in joined:
        keyword, _, arguments = line.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    start = max(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def image_environment(instructions: list[tuple[str, str]]) -> dict[str, str]:
    values = {}
    for keyword, arguments in final_stage(instructions):
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                values[name] = value
    return values


def healthcheck_command(instructions: list[tuple[str, str]]) -> list[str]:
    (arguments,) = [arguments for keyword, arguments in final_stage(instructions) if keyword == "HEALTHCHECK"]
    _options, _, command = arguments.partition("CMD ")
    return json.loads(command)


def systemd_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def systemd_values(path: Path, key: str) -> list[str]:
    """Every value of a key that may repeat (configparser keeps only the last)."""
    return [line.partition("=")[2] for line in path.read_text().splitlines() if line.startswith(f"{key}=")]


def nginx_statements(text: str) -> list[str]:
    """Statements and block openers, comments dropped; fails on unbalanced braces."""
    code = "\n".join(line.partition("#")[0] for line in text.splitlines())
    depth, statements, current = 0, [], ""
    for char in code:
        if char in "{};":
            statement = " ".join(current.split())
            if char == "{":
                depth += 1
                statements.append(statement + " {")
            elif char == "}":
                assert not statement, f"missing ';' after {statement!r}"
                depth -= 1
                assert depth >= 0, "a '}' closes nothing"
            else:
                statements.append(statement)
            current = ""
        else:
            current += char
    assert depth == 0, "a '{' is never closed"
    assert not current.strip(), f"missing ';' after {current.strip()!r}"
    return statements


def markdown_section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def locked(text: str) -> dict[str, tuple[str, list[str]]]:
    """Each package of a pip-compile lock: its one version and its hashes, comment lines dropped."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    pins = {}
    for entry in code.replace("\\\n", " ").splitlines():
        if entry.strip():
            requirement, *options = entry.split()
            name, pinned, version = requirement.partition("==")
            assert pinned, f"{requirement} is not pinned to one version"
            pins[canonicalize_name(name)] = (version, [option.removeprefix("--hash=") for option in options])
    return pins


def project_requirements() -> list[Requirement]:
    """What pyproject.toml asks for at run time and to build the project itself (as the image does)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = project["project"]["dependencies"] + project["build-system"]["requires"]
    return [Requirement(text) for text in names]


def unmet(requirements: list[Requirement], pins: dict[str, tuple[str, list[str]]], extras=("",)) -> list[str]:
    """The requirements that apply here and that no pin satisfies."""
    missing = []
    for requirement in requirements:
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras):
            continue
        version, _ = pins.get(canonicalize_name(requirement.name), (None, []))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement} (locked: {version})")
    return missing


COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?[?-][^}]*)?\}")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """compose's ${NAME}, ${NAME:?error} and ${NAME:-default} in a value, every NAME given."""
    return COMPOSE_VARIABLE.sub(lambda match: variables[match["name"]], value)


PINNED_IMAGE = re.compile(r"[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    return env_file(DEPLOY / "hipcoach.env.example")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DEPLOY / "Dockerfile")


# The settings the code reads


def _reads_settings(tree: ast.AST) -> bool:
    """The environment read, or pydantic-settings used (a BaseSettings reads the environment itself)."""
    return bool(_names_read(tree)) or any(
        (isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"})
        or (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pydantic_settings"))
        or (
            isinstance(node, ast.Import)
            and any(alias.name.startswith("pydantic_settings") for alias in node.names)
        )
        for node in ast.walk(tree)
    )


def test_the_code_reads_its_settings_only_in_bot_settings():
    assert _reads_settings(SETTINGS_TREE)  # the check below sees what it looks for
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path == SETTINGS_MODULE:
            continue
        assert not _reads_settings(ast.parse(path.read_text())), (
            f"{path.relative_to(ROOT)} reads the environment"
        )


def test_every_settings_field_names_its_variable_and_the_module_names_no_other():
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert None not in aliases, "a Settings field without the variable it is read from"
    assert aliases == SETTINGS


def test_bot_settings_reads_the_settings_we_know_and_only_platform_variables_besides():
    assert {"TELEGRAM_BOT_TOKEN", "HIPCOACH_DATABASE_URL", "HIPCOACH_WEBHOOK_URL"} <= SETTINGS
    assert READ - SETTINGS <= PLATFORM_VARIABLES, "a setting without the HIPCOACH_ prefix"


# The env example


def test_the_env_example_names_exactly_the_settings_the_code_reads(example):
    assert set(example) - SETTINGS == set(), "stale names in the env example"
    assert SETTINGS - set(example) == set(), "settings missing from deploy/hipcoach.env.example"


def test_the_env_example_is_accepted_by_the_code_and_holds_no_database_password(example):
    settings = settings_from_env(example)
    url = urlsplit(settings.database_url)
    assert url.scheme == "sqlite+aiosqlite" and url.path.startswith("//var/lib/hipcoach/")
    assert url.password is None


def test_the_bot_in_the_container_listens_on_all_interfaces_with_the_example_values(example, dockerfile):
    settings = settings_from_env({**image_environment(dockerfile), **example})
    assert settings.webhook_listen == "0.0.0.0"
    assert str(settings.files_dir).startswith("/var/lib/hipcoach/")


# compose.yaml


def test_compose_runs_the_bot_from_the_dockerfile_with_the_env_file_after_postgres_is_healthy(compose):
    bot = compose["services"]["bot"]
    build = bot["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert bot["env_file"] in ("hipcoach.env", ["hipcoach.env"])
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["restart"] == "unless-stopped"
    assert "ports" not in bot, "the bot is reached through nginx, not published"


@pytest.mark.parametrize("service", ["bot", "migrate"])
def test_compose_makes_the_database_url_from_the_one_password_in_deploy_env(example, compose, service):
    postgres = compose["services"]["postgres"]["environment"]
    assert COMPOSE_VARIABLE.fullmatch(postgres["POSTGRES_PASSWORD"])["name"] == "POSTGRES_PASSWORD"
    variables = {"POSTGRES_PASSWORD": "a1b2c3"}
    environment = {
        name: interpolate(value, variables)
        for name, value in compose["services"][service]["environment"].items()
    }
    # compose puts `environment` over `env_file`, so this URL wins over the example's.
    url = urlsplit(settings_from_env({**example, **environment}).database_url)
    assert url.scheme == "postgresql+asyncpg"
    assert url.hostname in compose["services"] and url.port == 5432
    assert compose["services"][url.hostname]["environment"] is postgres
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == interpolate(postgres["POSTGRES_PASSWORD"], variables)
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_compose_asks_only_for_the_database_password_and_stops_when_it_is_unset(compose):
    used = {match["name"] for match in COMPOSE_VARIABLE.finditer((DEPLOY / "compose.yaml").read_text())}
    assert used == {"POSTGRES_PASSWORD"}
    assert all(":?" in match[0] for match in COMPOSE_VARIABLE.finditer((DEPLOY / "compose.yaml").read_text()))


def test_compose_pins_every_image_it_pulls_by_digest(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            assert ":" in service["image"] and "@" not in service["image"], name
        else:
            assert PINNED_IMAGE.fullmatch(service["image"]), f"{name}: {service['image']} is not pinned"


def test_compose_migrates_once_before_the_bots_start(compose):
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["hipcoach", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        compose["services"]["bot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    )


def test_compose_keeps_postgres_data_in_a_named_volume_and_checks_it_with_pg_isready(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    volumes = [volume.split(":")[0] for volume in postgres["volumes"]]
    assert any(volume in compose["volumes"] for volume in volumes)
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_compose_offers_nginx_for_tls_only_under_a_profile(compose):
    nginx = compose["services"]["nginx"]
    assert nginx["profiles"] == ["tls"]
    mounts = [volume.split(":") for volume in nginx["volumes"]]
    assert ["./nginx.conf", "/etc/nginx/conf.d/default.conf", "ro"] in mounts
    assert (DEPLOY / "nginx.conf").is_file()


def test_compose_names_no_setting_the_code_does_not_read(compose):
    assert names_in((DEPLOY / "compose.yaml").read_text()) <= SETTINGS
    for service in compose["services"].values():
        assert names_in(" ".join(service.get("environment", {}))) <= SETTINGS


# nginx.conf


def test_nginx_proxies_the_webhook_path_to_the_bot_with_telegrams_secret_header(example, compose):
    statements = nginx_statements((DEPLOY / "nginx.conf").read_text())
    assert "listen 443 ssl" in statements
    location = statements.index("location = /telegram/webhook {")
    block = statements[location + 1 :]
    assert "proxy_pass http://hipcoach_bot" in block
    assert "proxy_set_header X-Telegram-Bot-Api-Secret-Token $http_x_telegram_bot_api_secret_token" in block
    upstream = statements.index("upstream hipcoach_bot {")
    assert statements[upstream + 1] == f"server bot:{example['HIPCOACH_WEBHOOK_PORT']}"
    assert "bot" in compose["services"]
    assert "/telegram/webhook" in (DEPLOY / "hipcoach.env.example").read_text()


def test_nginx_statements_fail_on_unbalanced_braces_or_a_missing_semicolon():
    with pytest.raises(AssertionError):
        nginx_statements("server { listen 443;")
    with pytest.raises(AssertionError):
        nginx_statements("server { listen 443 }")


# Dockerfile


def dockerfile_argument(instructions: list[tuple[str, str]], name: str) -> str:
    (default,) = [
        arguments.partition("=")[2]
        for keyword, arguments in instructions
        if keyword == "ARG" and arguments.startswith(f"{name}=")
    ]
    return default


def test_the_dockerfile_builds_on_python_3_11_slim_pinned_by_digest_and_runs_as_a_non_root_user(dockerfile):
    base = dockerfile_argument(dockerfile, "PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base)
    bases = [arguments.split()[0] for keyword, arguments in dockerfile if keyword == "FROM"]
    assert bases and set(bases) == {"${PYTHON_IMAGE}"}
    users = [arguments for keyword, arguments in final_stage(dockerfile) if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    (command,) = [arguments for keyword, arguments in dockerfile if keyword == "CMD"]
    assert json.loads(command) == ["hipcoach", "run"]
    assert image_environment(dockerfile)["HIPCOACH_WEBHOOK_LISTEN"] == "0.0.0.0"


def test_the_dockerfile_installs_the_lock_with_hashes_then_the_project_without_dependencies(dockerfile):
    lock = "deploy/requirements.lock"
    copied = [
        index
        for index, (keyword, arguments) in enumerate(dockerfile)
        if keyword == "COPY" and lock in arguments
    ]
    installs = [
        (index, shlex.split(arguments))
        for index, (keyword, arguments) in enumerate(dockerfile)
        if keyword == "RUN" and "pip install" in arguments
    ]
    assert [index for index, _ in installs] == sorted(index for index, _ in installs) and len(installs) == 2
    (locked_at, from_lock), (_, project) = installs
    assert copied and copied[0] < locked_at
    assert from_lock[from_lock.index("install") + 1 :] == ["--require-hashes", "-r", lock]
    project = project[project.index("install") + 1 : project.index("&&") if "&&" in project else None]
    assert sorted(project) == sorted([".", "--no-build-isolation", "--no-deps"])


def test_the_dockerfile_names_no_setting_the_code_does_not_read():
    assert names_in((DEPLOY / "Dockerfile").read_text()) <= SETTINGS


# The lock file


LOCK_TEXT = (DEPLOY / "requirements.lock").read_text()
PINS = locked(LOCK_TEXT)


def test_the_lock_pins_every_dependency_of_pyproject_at_a_version_its_range_admits():
    assert unmet(project_requirements(), PINS) == [], "run deploy/lock.sh"


def test_the_lock_pins_what_the_extras_named_in_pyproject_bring():
    for requirement in project_requirements():
        if requirement.extras:
            brought = [Requirement(text) for text in metadata.requires(requirement.name) or []]
            assert unmet(brought, PINS, extras=sorted(requirement.extras)) == [], (
                f"{requirement}: run deploy/lock.sh"
            )


def test_the_lock_pins_the_dependencies_of_each_locked_package_installed_here_at_that_version():
    checked = 0
    for name, (version, _) in PINS.items():
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if installed.version == version:
            checked += 1
            assert unmet([Requirement(text) for text in installed.requires or []], PINS) == [], name
    if not checked:
        pytest.skip("no locked version is installed here")


def test_every_locked_package_has_sha256_hashes_so_pip_refuses_any_other_file():
    for name, (_, hashes) in PINS.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", value) for value in hashes), name


def test_the_lock_is_made_by_deploy_lock_sh_for_the_images_python(dockerfile):
    assert "pip-compile with Python 3.11" in LOCK_TEXT
    assert "#    deploy/lock.sh\n" in LOCK_TEXT
    assert dockerfile_argument(dockerfile, "PYTHON_IMAGE").startswith("python:3.11.")


def test_the_lock_reader_refuses_a_range_and_sees_a_version_out_of_range():
    with pytest.raises(AssertionError):
        locked("httpx>=0.27 \\\n    --hash=sha256:" + "0" * 64)
    pins = locked("httpx==0.26.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via hipcoach\n")
    assert unmet([Requirement("httpx>=0.27")], pins) == ["httpx>=0.27 (locked: 0.26.0)"]
    assert unmet([Requirement("PyYAML>=6")], pins) == ["PyYAML>=6 (locked: None)"]


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server():
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_healthcheck(dockerfile, env: dict[str, str]) -> int:
    program, *arguments = healthcheck_command(dockerfile)
    assert program == "python"
    return subprocess.run([sys.executable, *arguments], env=env, timeout=30, capture_output=True).returncode


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_the_image_health_check_asks_healthz_on_the_webhook_port(dockerfile, health_server, status, healthy):
    health_server.RequestHandlerClass = type("Handler", (_Health,), {"status": status})
    env = {
        "HIPCOACH_WEBHOOK_URL": "https://x.test/hook",
        "HIPCOACH_WEBHOOK_PORT": str(health_server.server_port),
    }
    assert (_run_healthcheck(dockerfile, env) == 0) is healthy


def test_the_image_health_check_asks_healthz_on_the_metrics_port_when_polling(dockerfile, health_server):
    port = str(health_server.server_port)
    assert _run_healthcheck(dockerfile, {"HIPCOACH_METRICS_PORT": port}) == 0
    health_server.RequestHandlerClass = type("Handler", (_Health,), {"status": 500})
    assert _run_healthcheck(dockerfile, {"HIPCOACH_METRICS_PORT": port}) != 0


def test_the_image_health_check_fails_when_nothing_answers(dockerfile):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = str(closed.getsockname()[1])
    assert _run_healthcheck(dockerfile, {"HIPCOACH_METRICS_PORT": port}) != 0


# systemd


def test_the_systemd_unit_runs_the_coach_as_its_own_user_with_the_env_file_after_migrating():
    path = DEPLOY / "hipcoach.service"
    unit = systemd_unit(path)
    service = unit["Service"]
    assert service["Type"] == "simple"
    assert service["User"] not in {"root", "0"}
    assert service["EnvironmentFile"].lstrip("-") == "/etc/hipcoach/hipcoach.env"
    for key, arguments in (("ExecStartPre", ["db", "upgrade"]), ("ExecStart", ["run"])):
        program, *rest = service[key].split()
        assert program.startswith("/") and program.endswith("/hipcoach"), key
        assert rest == arguments, key
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in unit["Unit"]["After"]


def test_the_systemd_unit_is_hardened_and_writes_only_its_state_directory():
    path = DEPLOY / "hipcoach.service"
    service = systemd_unit(path)["Service"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "hipcoach",
    }.items():
        assert service[key] == value, key
    environment = dict(pair.partition("=")[::2] for pair in systemd_values(path, "Environment"))
    assert names_in(" ".join(environment)) <= SETTINGS
    for name in ("HIPCOACH_DATABASE_URL", "HIPCOACH_FILES_DIR"):
        assert "/var/lib/hipcoach/" in environment[name], name


# README


def test_the_readme_configuration_table_mentions_every_setting():
    section = markdown_section((ROOT / "README.md").read_text(), "Configuration")
    missing = {name for name in SETTINGS if f"`{name}`" not in section}
    assert not missing, f"README 'Configuration' does not mention {sorted(missing)}"


def test_the_readme_deploy_section_covers_the_deploy_files_and_the_health_endpoints():
    section = markdown_section((ROOT / "README.md").read_text(), "Deploy")
    for needed in (
        "BotFather",
        "compose.yaml",
        "hipcoach.service",
        "hipcoach db upgrade",
        "HIPCOACH_AUTO_MIGRATE",
        "pg_dump",
        "/healthz",
        "/metrics",
    ):
        assert needed in section, needed
    assert names_in(section) <= SETTINGS, "the Deploy section names a setting the code does not read"
