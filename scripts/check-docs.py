#!/usr/bin/env python3
"""Checks the documentation, README.md, SECURITY.md, CHANGELOG.md and docs/**/*.md, so that it cannot rot
(issue #19): links, the gateway configs it shows, and the configuration
reference against the schema.

    python3 scripts/check-docs.py            # README.md, SECURITY.md, CHANGELOG.md and docs/, then the self-test
    python3 scripts/check-docs.py FILE...    # just these Markdown files (rules 1 and 2)

Each problem is printed as `file:line: message`; the exit status is 1 if there
is any. Python 3 with PyYAML and jsonschema (as scripts/validate-configs.py).

Rule 1, links. Every inline link or image `[text](target)`, reference
definition `[label]: target` and HTML `href="target"` outside code (fenced
blocks and `code spans`) whose target is relative (no scheme such as `https:`
or `mailto:`, not `//host`) must resolve, from the file's directory, to an
existing file or directory. A `#anchor` on a Markdown file (or alone: the same
file) must name one of its headings by GitHub's rules: the heading's rendered
text (link and code markup removed) lowercased, every character other than a
letter, a digit, `_`, `-` or a space dropped, each space made `-`; a repeated
heading gets `-1`, `-2`, ... An `<a id="...">` or `<a name="...">` is an anchor
too.

Rule 2, gateway configs. Every ```yaml block of these files that is a gateway
config must pass schema/gateway.schema.json. What is a gateway config, and how
it is checked, is scripts/validate-configs.py's own code (imported here): a
mapping with a top-level key of the schema, or keys that all nearly spell one,
or a Kubernetes/Compose manifest embedding one.

Rule 3, configuration reference against the schema (docs/configuration.md).
A configuration table is a Markdown table whose first header cell is `key`.
The first cell of each of its rows holds one or more keys in backticks (`name`,
`tls.cert`, `keys[].keyid`, "`service`, `region`", "`url` / `url_secret`");
any other backticked text there is an error. The keys are relative to the
section path: the first backticked text of the nearest heading above the table
(`### `routes[].verify` (host role)` gives `routes[].verify`), or none when
that heading has no backticked key path (the keys are then full paths, as in
"Top-level keys"). A documented path is section + `.` + key with every `[]`
dropped: `routes[].verify` and `max_age` give `routes.verify.max_age`. The
schema's paths come from walking it from the root through `properties`,
`additionalProperties` (a map's values), `items`, `oneOf`/`anyOf`/`allOf` and
`$ref` into `definitions`, leaving array items and map values out of the path
(`secrets.<name>.env` is `secrets.env`). Then:
- every schema path must be a documented path (a key in the schema and not in
  the reference is reported at line 1 of the reference);
- every documented path, and every heading's section path, must be a schema
  path (reported at its row or heading).

Self-test: the fixtures in tests/fixtures/docs/ hold `expect: LINE text`
lines (in an HTML comment); each `broken-*.md` must fail with exactly the
errors they name (rule 1 for `broken-links*`, rule 3 against
tests/fixtures/docs/schema.json for `broken-reference*`), each `valid-*.md` must
pass rule 1, and tests/fixtures/schema/doc-broken-readme.md must fail rule 2.
"""
import argparse
import importlib.util
import json
import pathlib
import re
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "gateway.schema.json"
DOCS = ["README.md", "SECURITY.md", "CHANGELOG.md", "docs/**/*.md"]
REFERENCE = ROOT / "docs" / "configuration.md"
FIXTURES = ROOT / "tests" / "fixtures" / "docs"
YAML_FIXTURE = ROOT / "tests" / "fixtures" / "schema" / "doc-broken-readme.md"

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*(?:#+[ \t]*)?$")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)"
                         r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)", re.M)
HREF = re.compile(r"""<a\s[^>]*\bhref\s*=\s*["']([^"']+)["']""", re.I)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\])?)*$")
EXPECT = re.compile(r"^expect: (\d+) (.+)$", re.M)


def rel(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


# --- Markdown ---------------------------------------------------------------

def prose_lines(text):
    """The file's lines with fenced code blocks blanked (line numbers kept)."""
    out, fence = [], None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(m.group(1)):]:
                fence = None
            out.append("")
        else:
            out.append(line)
    return out


def blank_code_spans(text):
    """`text` with each code span's characters turned to spaces (newlines kept)."""
    return CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def slug(heading):
    """GitHub's anchor for a heading's text (github-slugger)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return kept.replace(" ", "-")


def headings(text):
    """(line, level, text) of each ATX heading outside code."""
    found = []
    for number, line in enumerate(prose_lines(text), 1):
        m = HEADING.match(line)
        if m:
            found.append((number, len(m.group(1)), m.group(2)))
    return found


def anchors(path, cache={}):
    """Every anchor of a Markdown file: its headings' slugs and its HTML ids."""
    if path not in cache:
        text = path.read_text()
        seen, result = {}, set()
        for _, _, title in headings(text):
            base = slug(title)
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
        result.update(HTML_ANCHOR.findall("\n".join(prose_lines(text))))
        cache[path] = result
    return cache[path]


def links(text):
    """(line, target) of each link outside code."""
    prose = blank_code_spans("\n".join(prose_lines(text)))
    found = []
    for pattern in (INLINE_LINK, REFERENCE_DEF, HREF):
        for m in pattern.finditer(prose):
            target = m.group(m.lastindex)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append((prose.count("\n", 0, m.start(m.lastindex)) + 1, target))
    return sorted(found)


def check_links(path):
    """(problems, links checked) for one Markdown file (rule 1)."""
    where = rel(path)
    problems, count = [], 0
    for line, target in links(path.read_text()):
        if SCHEME.match(target) or target.startswith("//"):
            continue
        count += 1
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{where}:{line}: link `{target}`: {file_part} does not exist")
        elif anchor and dest.is_file() and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}:{line}: link `{target}`: no heading `#{anchor}` in {rel(dest)}")
    return problems, count


# --- Gateway configs in yaml blocks (rule 2) ---------------------------------

def validate_configs_module():
    spec = importlib.util.spec_from_file_location("validate_configs", ROOT / "scripts" / "validate-configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_yaml(vc, validator, path):
    """(problems, configs checked) for the yaml blocks of one Markdown file."""
    problems, checked, _ = vc.check_markdown(validator, path)
    return problems, checked


# --- The configuration reference against the schema (rule 3) ----------------

def schema_paths(schema):
    """Every property path of the schema, array items and map values left out."""
    definitions = schema.get("definitions", {})
    paths = set()

    def walk(node, path, refs):
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref and ref.startswith("#/definitions/"):
            name = ref.split("/")[-1]
            if name not in refs:
                walk(definitions[name], path, refs | {name})
        for key, sub in node.get("properties", {}).items():
            paths.add(".".join(path + [key]))
            walk(sub, path + [key], refs)
        for branch in ("additionalProperties", "items"):
            walk(node.get(branch), path, refs)
        for combinator in ("oneOf", "anyOf", "allOf"):
            for sub in node.get(combinator, []):
                walk(sub, path, refs)

    walk(schema, [], frozenset())
    return paths


def cells(row):
    """The cells of a Markdown table row (a `|` inside a code span or escaped does not split)."""
    out, current, tick, i = [], "", 0, 0
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    while i < len(row):
        c = row[i]
        if c == "\\" and i + 1 < len(row):
            current += row[i:i + 2]
            i += 2
            continue
        if c == "`":
            run = len(row[i:]) - len(row[i:].lstrip("`"))
            tick = 0 if tick == run else (tick or run)
            current += "`" * run
            i += run
            continue
        if c == "|" and not tick:
            out.append(current.strip())
            current = ""
        else:
            current += c
        i += 1
    if current.strip():
        out.append(current.strip())
    return out


def documented_keys(text):
    """(rows, sections): rows are (line, section, key) of each key of a configuration
    table; sections are (line, path) of each heading giving a section path to one."""
    lines = prose_lines(text)
    rows, sections = [], []
    section, section_line, i = "", 0, 0
    while i < len(lines):
        m = HEADING.match(lines[i])
        if m:
            spans = [s for _, s in CODE_SPAN.findall(m.group(2))]
            section = spans[0].strip() if spans and KEY.match(spans[0].strip()) else ""
            section_line = i + 1
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-", lines[i + 1]):
            header = cells(lines[i])
            table_end = i + 2
            while table_end < len(lines) and lines[table_end].lstrip().startswith("|"):
                table_end += 1
            if header and header[0].strip("` ").lower() == "key":
                if section:
                    sections.append((section_line, section))
                for n in range(i + 2, table_end):
                    first = (cells(lines[n]) or [""])[0]
                    spans = [s.strip() for _, s in CODE_SPAN.findall(first)]
                    if not spans:
                        rows.append((n + 1, section, None))
                    rows += [(n + 1, section, s) for s in spans]
            i = table_end
            continue
        i += 1
    return rows, sections


def normalise(path):
    return path.replace("[]", "")


def check_reference(path, schema):
    """Problems between a configuration reference and a schema (rule 3)."""
    where = rel(path)
    known = {normalise(p) for p in schema_paths(schema)}
    rows, sections = documented_keys(path.read_text())
    problems, documented = [], set()
    for line, section in sections:
        if normalise(section) not in known:
            problems.append(f"{where}:{line}: section `{section}` is not a key path of the schema")
    for line, section, key in rows:
        if key is None:
            problems.append(f"{where}:{line}: a configuration table row without a `key` in its first cell")
            continue
        if not KEY.match(key):
            problems.append(f"{where}:{line}: `{key}` in a configuration table's first column is not a key")
            continue
        full = normalise(f"{section}.{key}" if section else key)
        documented.add(full)
        if full not in known:
            problems.append(f"{where}:{line}: `{full}` (`{key}` under `{section or 'the top level'}`) "
                            f"is not in the schema")
    for missing in sorted(known - documented):
        problems.append(f"{where}:1: `{missing}` is in the schema but in no configuration table here")
    return problems


# --- Running -----------------------------------------------------------------

def check_docs(vc, validator, schema):
    problems = []
    for path in vc.glob(DOCS):
        found, count = check_links(path)
        yaml_problems, configs = check_yaml(vc, validator, path)
        problems += found + yaml_problems
        print(f"{rel(path)}: {count} relative link(s), {configs} gateway config(s) in yaml blocks")
    if REFERENCE.exists():
        found = check_reference(REFERENCE, schema)
        problems += found
        print(f"{rel(REFERENCE)}: {len(schema_paths(schema))} schema key path(s) against its configuration tables")
    else:
        problems.append(f"{rel(REFERENCE)}:1: the configuration reference is missing")
    return problems


def expectation_failures(path, problems):
    """Failures of a broken fixture: an expectation no problem meets, or a problem no expectation names."""
    name = rel(path)
    expects = EXPECT.findall(path.read_text())
    failures = [] if problems else [f"{name}: passed, but it is broken on purpose"]
    if not expects:
        failures.append(f"{name}: has no `expect: LINE text` line")
    met = lambda e, p: f":{e[0]}: " in p and e[1] in p  # noqa: E731
    failures += [f"{name}: no error {' '.join(e)!r}; got {problems}" for e in expects
                 if not any(met(e, p) for p in problems)]
    failures += [f"{name}: an error no `expect:` line names: {p}" for p in problems
                 if not any(met(e, p) for e in expects)]
    return failures


def self_test(vc, validator):
    failures = []
    fixture_schema = json.loads((FIXTURES / "schema.json").read_text())
    for path in sorted(FIXTURES.glob("broken-*.md")):
        problems = check_reference(path, fixture_schema) if path.name.startswith("broken-reference") \
            else check_links(path)[0]
        found = expectation_failures(path, problems)
        failures += found
        print(f"self-test: {rel(path)} fails {'as it should' if not found else 'WRONGLY'} ({len(problems)} error(s))")
    for path in sorted(FIXTURES.glob("valid-*.md")):
        problems = check_links(path)[0]
        failures += [f"self-test (must pass): {p}" for p in problems]
        print(f"self-test: {rel(path)} {'FAILS' if problems else 'passes'}")
    yaml_problems, _ = check_yaml(vc, validator, YAML_FIXTURE)
    if not yaml_problems:
        failures.append(f"{rel(YAML_FIXTURE)}: its broken yaml blocks passed")
    print(f"self-test: {rel(YAML_FIXTURE)} {'fails as it should' if yaml_problems else 'passes WRONGLY'} "
          f"({len(yaml_problems)} error(s))")
    if not list(FIXTURES.glob("broken-*.md")) or not list(FIXTURES.glob("valid-*.md")):
        failures.append(f"{rel(FIXTURES)}: no broken-*.md or valid-*.md fixtures")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=pathlib.Path, help="check only these Markdown files (rules 1, 2)")
    args = parser.parse_args()
    vc = validate_configs_module()
    schema = json.loads(SCHEMA.read_text())
    validator = vc.schema_validator(schema)

    if args.files:
        problems = []
        for path in (f.resolve() for f in args.files):
            problems += check_links(path)[0] + check_yaml(vc, validator, path)[0]
        print("\n".join(problems) or f"{len(args.files)} file(s) pass")
        return 1 if problems else 0

    problems = check_docs(vc, validator, schema)
    failures = self_test(vc, validator)
    for line in problems + failures:
        print(line, file=sys.stderr)
    print(f"docs: {len(problems)} problem(s); self-test: {len(failures)} failure(s)")
    return 1 if problems or failures else 0


if __name__ == "__main__":
    sys.exit(main())
