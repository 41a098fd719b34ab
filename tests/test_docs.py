"""The documentation holds: README.md and docs/*.md have no dead link, and their examples run.

- Every relative link names a file that exists in the repository, and every `#anchor` names a
  heading of the linked document (GitHub's anchors: lower case, punctuation removed, spaces to
  hyphens, `-1`, `-2`... for repeated headings). Links inside code are not links.
- Every Python block is marked `<!-- example: NAME -->` on the line before it, and every marked
  block runs here: with the runner registered for its name in RUNNERS (which supplies what the
  block names but does not define, and checks what it claims), else on its own. Shell, console
  and output blocks are documentation and are not run; JSON blocks must parse.
- Every document in docs/ is linked from the README or from another document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import MakeSecret
from test_consumer import DOC_EXAMPLES as CONSUMER_EXAMPLES
from test_consumer import DOC_MARKS as CONSUMER_MARKS
from test_consumer import run_consumer_example

from smrotate import redaction
from smrotate.operator.driver import LocalDriver
from smrotate.store import reset_clients

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
_MARKER = re.compile(r"^<!--\s*example:\s*([\w.-]+)\s*-->$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_INLINE_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def doc_files() -> list[Path]:
    """README.md, then docs/*.md in name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def where(path: Path, line: int) -> str:
    """`docs/x.md:12` for messages and tracebacks."""
    return f"{path.relative_to(ROOT)}:{line}"


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text, and its example marker if it has one."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    name: str | None

    @property
    def where(self) -> str:
        return where(self.path, self.line)


@dataclass(frozen=True)
class Document:
    """One Markdown file: its code blocks, its prose (code blanked out), its stray markers."""

    path: Path
    blocks: tuple[Block, ...]
    prose: str  # code blocks and inline code blanked out
    loose_markers: tuple[str, ...]  # markers not right before a fenced block
    headings: tuple[str, ...]  # the text of each heading, in order


def parse(path: Path) -> Document:
    """Split `path` into fenced blocks and prose (fences and inline code replaced by blanks, so
    links in code are not seen as links)."""
    lines = path.read_text().split("\n")
    blocks: list[Block] = []
    prose: list[str] = []
    loose: list[str] = []
    pending: tuple[str, int] | None = None  # a marker waiting for its block
    fence: tuple[str, str, int, list[str]] | None = None  # (fence, lang, line, body)
    for number, text in enumerate(lines, start=1):
        if fence is not None:
            opener, lang, start, body = fence
            close = text.strip()
            if close.startswith(opener[0] * len(opener)) and not close.strip(opener[0]):
                name = pending[0] if pending and pending[1] == start else None
                blocks.append(Block(path, start, lang, "\n".join(body) + "\n", name))
                pending, fence = None, None
            else:
                body.append(text)
            prose.append("")
            continue
        opened = _FENCE.match(text)
        if opened:
            fence = (opened.group(1), opened.group(2).lower(), number, [])
            prose.append("")
            continue
        marker = _MARKER.match(text.strip())
        if marker:
            if pending:
                loose.append(f"{where(path, pending[1] - 1)}: {pending[0]}")
            pending = (marker.group(1), number + 1)
        elif text.strip() and pending:
            loose.append(f"{where(path, pending[1] - 1)}: {pending[0]}")
            pending = None
        elif pending and not text.strip():
            pending = (pending[0], number + 1)
        prose.append(text)
    assert fence is None, f"{where(path, fence[2])}: a code block is never closed"
    if pending:
        loose.append(f"{where(path, pending[1] - 1)}: {pending[0]}")
    headings = tuple(m.group(2) for line in prose if (m := _HEADING.match(line)))
    text = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), "\n".join(prose))
    return Document(path, tuple(blocks), text, tuple(loose), headings)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a document: its headings' slugs (repeats numbered) and HTML anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in parse(path).headings:
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(_HTML_ANCHOR.findall(path.read_text()))
    return found


def links(document: Document) -> Iterator[tuple[int, str]]:
    """(line, target) of every inline link, image and reference definition outside code."""
    for pattern in (_LINK, _REFERENCE):
        for match in pattern.finditer(document.prose):
            yield document.prose.count("\n", 0, match.start()) + 1, match.group(1)


def link_problems(document: Document) -> list[str]:
    """What is wrong with each relative link of `document` (empty when all resolve)."""
    problems = []
    for line, target in links(document):
        at = where(document.path, line)
        if _SCHEME.match(target):
            continue  # http(s), mailto: not checked here
        if not target:
            problems.append(f"{at}: an empty link")
            continue
        if target.startswith("/"):
            problems.append(f"{at}: {target} is absolute; links must be relative")
            continue
        part, _, anchor = target.partition("#")
        linked = (document.path.parent / unquote(part)).resolve() if part else document.path
        if not linked.is_relative_to(ROOT):
            problems.append(f"{at}: {target} leaves the repository")
        elif not linked.exists():
            problems.append(f"{at}: {target}: no such file")
        elif anchor and linked.suffix != ".md":
            problems.append(f"{at}: {target}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(linked):
            problems.append(f"{at}: {target}: {linked.name} has no heading with that anchor")
    return problems


def examples() -> list[Block]:
    """Every marked block of README.md and docs/*.md, in reading order."""
    return [block for path in doc_files() for block in parse(path).blocks if block.name]


def example_block(name: str) -> Block:
    """The block marked `<!-- example: name -->`."""
    for block in examples():
        if block.name == name:
            return block
    raise AssertionError(f"no document has the example {name!r}")


# ------------------------------------------------------------------------- the documents


def test_readme_links_every_document() -> None:
    """No document in docs/ is an orphan: the README or another document links to it."""
    linked: set[Path] = set()
    for path in doc_files():
        document = parse(path)
        for _, target in links(document):
            part = target.partition("#")[0]
            if part and not _SCHEME.match(target):
                linked.add((path.parent / unquote(part)).resolve())
    orphans = [p.name for p in doc_files()[1:] if p.resolve() not in linked]
    assert not orphans, f"documents nothing links to: {orphans}"


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_anchors_resolve(path: Path) -> None:
    document = parse(path)
    problems = link_problems(document)
    assert not problems, "dead links:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_are_marked_examples(path: Path) -> None:
    """A Python block claims to run, so it must be marked (and so run below); a marker must
    sit right before a Python block."""
    document = parse(path)
    unmarked = [b.where for b in document.blocks if b.lang in {"python", "py"} and not b.name]
    assert not unmarked, f"Python blocks without <!-- example: NAME -->: {unmarked}"
    assert not document.loose_markers, f"markers not before a block: {document.loose_markers}"
    wrong = [b.where for b in document.blocks if b.name and b.lang != "python"]
    assert not wrong, f"examples that are not Python blocks: {wrong}"


def test_example_names_are_unique() -> None:
    names = [block.name for block in examples()]
    repeated = sorted({name for name in names if names.count(name) > 1 and name})
    assert not repeated, f"example names used twice: {repeated}"


def test_json_blocks_parse() -> None:
    bad = []
    for path in doc_files():
        for block in parse(path).blocks:
            if block.lang == "json":
                try:
                    json.loads(block.text)
                except ValueError as exc:
                    bad.append(f"{block.where}: {exc}")
    assert not bad, bad


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Operating rotations: the `smrotate` CLI", "operating-rotations-the-smrotate-cli"),
        ("MySQL, Aurora MySQL and MariaDB", "mysql-aurora-mysql-and-mariadb"),
        ("Username and password: `PasswordRotator`", "username-and-password-passwordrotator"),
        ("A -- b", "a----b"),
        ("snake_case stays", "snake_case-stays"),
        ("[A link](x.md) in it", "a-link-in-it"),
    ],
)
def test_the_anchor_rule_is_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_link_check_finds_dead_links(tmp_path: Path) -> None:
    """The check can fail: a missing file, a missing anchor, an absolute path; code is skipped."""
    page = DOCS / "protocol.md"
    fake = Document(
        page,
        (),
        "[a](nope.md) [b](strategies.md#no-such-heading) [c](/README.md) [d](#the-event)\n"
        "[e](https://example.com/x) [f](../README.md#install)",
        (),
        (),
    )
    problems = link_problems(fake)
    assert len(problems) == 3, problems
    assert "nope.md: no such file" in problems[0]
    assert "no heading with that anchor" in problems[1]
    assert "absolute" in problems[2]
    code = tmp_path / "code.md"
    code.write_text("# T\n\n`[x](missing.md)`\n\n```sh\n[y](missing.md)\n```\n")
    assert list(links(parse(code))) == []


# ------------------------------------------------------------------------- the examples

Runner = Callable[[Block, pytest.FixtureRequest], None]
RUNNERS: dict[str, Runner] = {}
MARKS: dict[str, tuple[pytest.MarkDecorator, ...]] = {}


def runner(name: str, *marks: pytest.MarkDecorator) -> Callable[[Runner], Runner]:
    """Register the function that runs example `name` (with pytest `marks`)."""

    def register(function: Runner) -> Runner:
        RUNNERS[name] = function
        MARKS[name] = marks
        return function

    return register


def run(block: Block, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute `block` in `namespace` (a fresh one by default); tracebacks name the document."""
    namespace = {} if namespace is None else namespace
    code = compile(block.text, block.where, "exec")
    exec(code, namespace)  # noqa: S102 (the documentation's own examples)
    return namespace


def run_alone(block: Block, request: pytest.FixtureRequest) -> None:
    """An example that needs nothing: it runs as it is."""
    run(block)


def current_value(sm: Any, arn: str) -> dict[str, Any]:
    value = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    return dict(json.loads(value))


@runner("readme-rotator")
def _readme_rotator(block: Block, request: pytest.FixtureRequest) -> None:
    make_secret: MakeSecret = request.getfixturevalue("make_secret")
    sm = request.getfixturevalue("sm")
    namespace = run(block)
    arn = make_secret({"username": "app", "password": "first-token-0001"})
    result = LocalDriver(namespace["lambda_handler"]).rotate(arn)
    assert result.ok, result.error
    tokens = namespace["TOKENS"]
    assert tokens["app"] != "first-token-0001"
    assert current_value(sm, arn)["password"] == tokens["app"]


@runner("readme-run")
def _readme_run(block: Block, request: pytest.FixtureRequest) -> None:
    """The README's rotation on moto, with the README's rotator; it prints `True True`."""
    capsys: pytest.CaptureFixture[str] = request.getfixturevalue("capsys")
    reset_clients()
    redaction.forget_all()
    try:
        namespace = run(example_block("readme-rotator"))
        run(block, namespace)
    finally:
        reset_clients()
    assert namespace["result"].ok, namespace["result"].error
    assert capsys.readouterr().out.splitlines()[-1] == "True True"  # after the step logs


@runner("custom-rotator")
def _custom_rotator(block: Block, request: pytest.FixtureRequest) -> None:
    make_secret: MakeSecret = request.getfixturevalue("make_secret")
    sm = request.getfixturevalue("sm")
    namespace = run(block)
    arn = make_secret({"username": "app", "password": "first-token-0001"})
    result = LocalDriver(namespace["lambda_handler"]).rotate(arn)
    assert result.ok, result.error
    assert current_value(sm, arn)["password"] == namespace["service"].tokens["app"]


@runner("custom-rotator-run")
def _custom_rotator_run(block: Block, request: pytest.FixtureRequest) -> None:
    """The local driver on the custom rotator: `secret_arn` is the secret the text describes."""
    make_secret: MakeSecret = request.getfixturevalue("make_secret")
    sm = request.getfixturevalue("sm")
    capsys: pytest.CaptureFixture[str] = request.getfixturevalue("capsys")
    namespace = run(example_block("custom-rotator"))
    namespace["secret_arn"] = make_secret({"username": "app", "password": "first-token-0001"})
    run(block, namespace)
    assert namespace["result"].ok, namespace["result"].error
    assert capsys.readouterr().out.splitlines()[-1].startswith("True [")
    token = namespace["service"].tokens["app"]
    assert token != "first-token-0001"
    assert current_value(sm, namespace["secret_arn"])["password"] == token


@runner("api-key-rotator")
def _api_key_rotator(block: Block, request: pytest.FixtureRequest) -> None:
    """Two rotations: the newest two keys work, the first one is revoked."""
    make_secret: MakeSecret = request.getfixturevalue("make_secret")
    sm = request.getfixturevalue("sm")
    namespace = run(block)
    arn = make_secret({"api_key": "key-0001"})
    driver = LocalDriver(namespace["lambda_handler"])
    first = driver.rotate(arn)
    assert first.ok, first.error
    middle = current_value(sm, arn)["api_key"]
    assert namespace["KEYS"] == {"key-0001", middle}
    second = driver.rotate(arn)
    assert second.ok, second.error
    assert namespace["KEYS"] == {middle, current_value(sm, arn)["api_key"]}


@runner("kit-suite")
def _kit_suite(block: Block, request: pytest.FixtureRequest) -> None:
    """The kit's test module, beside the rotator it imports, run by pytest: every case passes
    (8 or more: the kit may grow)."""
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    pytester.makepyfile(
        token_rotator=example_block("custom-rotator").text, test_token_rotator=block.text
    )
    reset_clients()
    try:
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    finally:
        reset_clients()
    outcomes = result.parseoutcomes()
    assert result.ret == 0, outcomes
    assert outcomes.get("passed", 0) >= 8, outcomes


@runner("private-postgres", pytest.mark.postgres)
def _private_postgres(block: Block, request: pytest.FixtureRequest) -> None:
    run(block)


@runner("cdk-app", pytest.mark.slow)
def _cdk_app(block: Block, request: pytest.FixtureRequest) -> None:
    """docs/deploy.md's CDK app synthesizes offline (in a scratch folder, with a stand-in for
    the package its make target builds) the function it claims, with its admin secret and
    schedule. jsii starts node, which warns that node 20 is past its end of life: silenced."""
    folder: Path = request.getfixturevalue("tmp_path")
    patch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    patch.setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    patch.chdir(folder)
    (folder / "build" / "postgresql").mkdir(parents=True)
    namespace = run(block)
    template = namespace["assembly"].get_stack_by_name("smrotate-postgresql").template
    resources = template["Resources"].values()
    (function,) = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["FunctionName"] == "app-db-rotation"
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["ROTATION_STRATEGY"] == "single-user-via-admin"
    assert variables["ADMIN_SECRET_ARN"].endswith(":secret:rds!db-0123-AbCdEf")
    (schedule,) = [r for r in resources if r["Type"] == "AWS::SecretsManager::RotationSchedule"]
    rules = schedule["Properties"]["RotationRules"]
    assert rules == {"ScheduleExpression": "rate(30 days)", "Duration": "3h"}
    assert {r["Type"] for r in resources} >= {"AWS::CloudWatch::Alarm", "AWS::Events::Rule"}


def _consumer_example(block: Block, request: pytest.FixtureRequest) -> None:
    run_consumer_example(block.name or "", block.text, request)


for _name, _example in CONSUMER_EXAMPLES.items():  # docs/consumer.md, one per driver
    runner(_name, CONSUMER_MARKS[_example[0]])(_consumer_example)


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=b.name, marks=MARKS.get(b.name or "", ())) for b in examples()],
)
def test_example_runs(block: Block, request: pytest.FixtureRequest) -> None:
    RUNNERS.get(block.name or "", run_alone)(block, request)


def test_every_runner_has_its_example() -> None:
    """A runner whose example was renamed or removed would silently run nothing."""
    names = {block.name for block in examples()}
    assert set(RUNNERS) <= names, sorted(set(RUNNERS) - names)


def test_every_test_the_threat_model_names_exists() -> None:
    """The threat model's test index names real test functions (a renamed test breaks it)."""
    text = (ROOT / "docs" / "threat-model.md").read_text()
    missing = []
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        module = None
        for token in re.findall(r"`([^`]+)`", line):
            found = re.fullmatch(r"((?:tests/)?(?:security/)?test_\w+\.py)?::(test_\w+)", token)
            if found is None:
                continue
            module = found[1] or module
            assert module, f"{token} names no module"
            paths = [ROOT / module, ROOT / "tests" / "security" / module, ROOT / "tests" / module]
            path = next((p for p in paths if p.is_file()), None)
            if path is None or f"def {found[2]}(" not in path.read_text():
                missing.append(f"{module}::{found[2]}")
    assert not missing, missing
