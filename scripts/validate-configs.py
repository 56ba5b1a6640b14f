#!/usr/bin/env python3
"""Validates every gateway config the project ships against the committed JSON
Schema (schema/gateway.schema.json, printed by `hmac-gateway schema`), with
the independent Python `jsonschema` validator (issue #13).

    python3 scripts/validate-configs.py            # shipped configs, then the self-test
    python3 scripts/validate-configs.py FILE...    # just these files (.yaml, .yml or .md)

What is a config is decided by where it sits, not by whether it looks valid,
so a broken config fails instead of being skipped:
- Files, by glob so files added later are covered: `gateway.yaml`,
  `deploy/**/*.y*ml`, `examples/**/*.y*ml`. A document with `apiVersion` and
  `kind` (Kubernetes) or `services` (Compose) is a manifest; every gateway
  config it embeds must parse and validate: each entry of a ConfigMap's `data`
  named `*.yaml` or `*.yml`, and each Compose `configs.*.content` (inline
  contents are gateway configs here; mount anything else with `file:`). Any
  other non-empty document is a gateway config, and its file must start with
  the `# yaml-language-server: $schema=...` modeline pointing at the schema.
  A file yielding no config at all (empty, only comments, or a manifest
  embedding none) fails.
- The ```yaml blocks of `README.md`, `docs/**/*.md` and `examples/**/*.md`
  (scripts/check-docs.py checks the docs' blocks with this code too): a block is a
  gateway config, checked as a fragment (the top-level keys the schema
  requires, such as `listeners`, may be left out, so a `replay:` section alone
  is valid; everything the block holds must be valid), when it is a mapping
  with at least one top-level key of the schema, or whose keys all nearly spell one
  (`listners:`); so an unknown key beside known ones is reported. A block that
  is a manifest has its embedded configs checked as above. Any other block
  (a single route, a list, shell text, a manifest embedding no config) is not
  a gateway config and is listed as skipped. A block that does not parse fails.

Self-test: every `tests/fixtures/schema/*broken-*.yaml` (`broken-`: a config;
`carrier-broken-`: a manifest embedding one; `empty-broken-`: no config) and
`*broken-*.md` (Markdown) must fail with exactly the errors its
`# expect: [LINE] /json/pointer substring` lines name (each matched by an
error, on that line if given; no other error), and every
`tests/fixtures/schema/valid-*.yaml` must pass.

Each error is printed as `file:line: /json/pointer: message`; inside an
embedded config the pointer is into that config, the line is the file's.
Exit status 1 on any failure. YAML is read with PyYAML's safe loader.
"""
import argparse
import difflib
import json
import os.path
import pathlib
import re
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "gateway.schema.json"
SHIPPED = ["gateway.yaml", "deploy/**/*.yaml", "deploy/**/*.yml", "examples/**/*.yaml", "examples/**/*.yml"]
DOCS = ["README.md", "docs/**/*.md", "examples/**/*.md"]
FIXTURES = ROOT / "tests" / "fixtures" / "schema"
MODELINE = "# yaml-language-server: $schema="
EXPECT = re.compile(r"^# expect: (?:(\d+) )?(/\S*) (.+)$", re.M)
CONFIG_NAME = (".yaml", ".yml")


class Loader(yaml.SafeLoader):
    """Safe loader that leaves dates as text, as the gateway reads them."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def documents(text):
    """(node, data) for each YAML document of `text`."""
    loader = Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def entry_at(node, path):
    """(key node or None, value node) at `path` (the deepest one that exists)."""
    key_node = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == str(key)]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = [(None, node.value[key])]
        else:
            found = []
        if not found:
            break
        key_node, node = found[0]
    return key_node, node


def node_at(node, path):
    """The node at `path` (the deepest one that exists)."""
    return entry_at(node, path)[1]


def line_of(node, path, at_key=False):
    """1-based line of the node at `path` (the deepest one that exists), or
    of its key: a block value starts on the line after the key."""
    key_node, value_node = entry_at(node, path)
    return (key_node if at_key and key_node else value_node).start_mark.line + 1


def is_mismatch(error):
    """An error saying a oneOf/anyOf branch is not the one meant (wrong type or scheme)."""
    path = list(error.relative_path)
    return (not path and error.validator == "type") or path == ["scheme"]


def leaf_errors(error):
    """The errors worth showing: inside a oneOf/anyOf, those of the one branch
    that matched by type and `scheme`, if exactly one did."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [errs for errs in branches.values() if not any(is_mismatch(e) for e in errs)]
    if len(meant) == 1:
        return [leaf for e in meant[0] for leaf in leaf_errors(e)]
    if isinstance(error.instance, dict) and "scheme" in error.instance:
        names = [n for errs in branches.values() for e in errs if list(e.relative_path) == ["scheme"]
                 for n in e.schema.get("enum", [])]
        error.message = f"scheme {error.instance['scheme']!r} is not one of {names}"
        error.path.append("scheme")
    return [error]


def unexpected_keys(error):
    """The keys an `additionalProperties: false` error is about: their lines are the ones to show."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    return [k for k in error.instance if k not in error.schema.get("properties", {})]


def pointer(path):
    """JSON pointer (RFC 6901) of a path of keys and indexes."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def check_config(validator, data, node, where, line_offset=0, at_line=None):
    """Error lines for one gateway config, each on its line plus `line_offset`, or all on `at_line`."""
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in leaf_errors(error):
            unexpected = unexpected_keys(leaf)[:1]
            path = list(leaf.absolute_path) + unexpected
            line = at_line or line_of(node, path, at_key=bool(unexpected)) + line_offset
            problems.append(f"{where}:{line}: {pointer(leaf.absolute_path)}: {leaf.message}")
    return problems


def parse_error(where, path, error, line_offset):
    """The error line for YAML that does not parse, at the line PyYAML stopped on."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = line_offset + (mark.line + 1 if mark else 1)
    what = " ".join(filter(None, [getattr(error, "context", None), getattr(error, "problem", None)])) or str(error)
    return f"{where}:{line}: {pointer(path)}: does not parse as YAML: {what}"


def is_carrier(data):
    """A Kubernetes or Compose document, which may embed gateway configs."""
    return isinstance(data, dict) and (("apiVersion" in data and "kind" in data) or "services" in data)


def embedded(data):
    """(path, value) of each gateway config a manifest carries, by where it
    sits: ConfigMap `data` entries named *.yaml/*.yml, Compose `configs.*.content`."""
    if data.get("kind") == "ConfigMap" and isinstance(data.get("data"), dict):
        yield from ((["data", k], v) for k, v in data["data"].items() if str(k).endswith(CONFIG_NAME))
    if "services" in data and isinstance(data.get("configs"), dict):
        for name, config in data["configs"].items():
            if isinstance(config, dict) and "content" in config:
                yield ["configs", name, "content"], config["content"]


def check_embedded(validator, node, path, value, where, base):
    """Error lines for one embedded config: it must be text that parses to a valid config."""
    string_node = node_at(node, path)
    at = f"{where}:{string_node.start_mark.line + 1 + base}: {pointer(path)}"
    if not isinstance(value, str):
        return [f"{at}: a gateway config must be YAML text (a `|` block), not {type(value).__name__}"]
    # A block scalar's text starts on the line after its `|`; a quoted or plain
    # one is folded, so its own lines are not the file's: errors go on its first.
    block = string_node.style in ("|", ">")
    offset = base + string_node.start_mark.line + 1
    try:
        docs = [(n, d) for n, d in documents(value) if d is not None]
    except yaml.YAMLError as e:
        return [parse_error(where, path, e, offset) if block else f"{at}: does not parse as YAML: {e}"]
    if not docs:
        return [f"{at}: the gateway config is empty"]
    fixed = None if block else offset
    return [p for n, d in docs for p in check_config(validator, d, n, where, offset, at_line=fixed)]


def check_document(validator, node, data, where, base=0):
    """(error lines, configs checked, whether it is a standalone config) for one YAML document."""
    if not is_carrier(data):
        return check_config(validator, data, node, where, base), 1, True
    problems, count = [], 0
    for path, value in embedded(data):
        problems += check_embedded(validator, node, path, value, where, base)
        count += 1
    return problems, count, False


def check_file(validator, path, need_modeline):
    """(error lines, configs checked) for one YAML file."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    text = path.read_text()
    problems, count = [], 0
    try:
        docs = list(documents(text))
    except yaml.YAMLError as e:
        return [parse_error(where, [], e, 0)], 0
    for node, data in docs:
        if data is None:  # an empty document, such as one after a trailing `---`
            continue
        found, checked, standalone = check_document(validator, node, data, where)
        problems += found
        count += checked
        if standalone and need_modeline:
            expected = MODELINE + pathlib.Path(os.path.relpath(SCHEMA, path.parent)).as_posix()
            if text.splitlines()[:1] != [expected]:
                problems.append(f"{where}:1: /: the first line must be the editor modeline `{expected}`")
    if not count:
        problems.append(f"{where}:1: /: no gateway config in this file: it is empty or only comments, or a "
                        f"manifest embedding none (ConfigMap `data` *.yaml entries, Compose `configs.*.content`)")
    return problems, count


def yaml_blocks(path):
    """(line of the block's first line, text) of each ```yaml block in a Markdown file."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if current is None and line.strip() in ("```yaml", "```yml"):
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def is_config_block(data, top_keys):
    """A Markdown block is a gateway config when it has a top-level key of the
    schema, or when every key nearly spells one (a typo such as `listners`)."""
    if not isinstance(data, dict) or not data:
        return False
    keys = [str(k) for k in data]
    return any(k in top_keys for k in keys) or all(difflib.get_close_matches(k, top_keys, 1, 0.8) for k in keys)


def fragment_validator(validator):
    """A validator for a section of a config shown on its own: the schema
    without its top-level `required` (a Markdown block may show `replay:` alone)."""
    schema = {k: v for k, v in validator.schema.items() if k != "required"}
    return type(validator)(schema)


def check_markdown(validator, path):
    """(error lines, configs checked, blocks skipped) for one Markdown file."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    top_keys = set(validator.schema["properties"])
    fragment = fragment_validator(validator)
    problems, checked, skipped = [], 0, []
    for start, text in yaml_blocks(path):
        try:
            docs = [(n, d) for n, d in documents(text) if d is not None]
        except yaml.YAMLError as e:
            problems.append(parse_error(where, [], e, start - 1))
            continue
        count = 0
        for node, data in docs:
            if is_carrier(data) or is_config_block(data, top_keys):
                # A manifest embeds whole configs; a block on its own may be a section.
                found, n, _ = check_document(validator if is_carrier(data) else fragment, node, data, where, start - 1)
                problems += found
                count += n
        checked += count
        if not count:
            skipped.append(f"{where}:{start}")
    return problems, checked, skipped


def schema_validator(schema):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def glob(patterns):
    return sorted({p for pattern in patterns for p in ROOT.glob(pattern) if p.is_file()})


def check_any(validator, path, need_modeline=False):
    """Error lines for a YAML or Markdown file."""
    if path.suffix == ".md":
        return check_markdown(validator, path)[0]
    return check_file(validator, path, need_modeline)[0]


def expectation_met(expect, problem):
    line, where, text = expect
    return f"{':' + line if line else ''}: {where}: " in problem and text in problem


def self_test_broken(validator, path):
    """Failures of one broken fixture: it passes, an expectation no error
    meets, or an error no expectation names."""
    name = path.relative_to(ROOT)
    problems = check_any(validator, path)
    expects = EXPECT.findall(path.read_text())
    failures = [] if problems else [f"{name}: passed, but it is broken on purpose"]
    if not expects:
        failures.append(f"{name}: has no `# expect: [LINE] /pointer text` line")
    for expect in expects:
        if not any(expectation_met(expect, p) for p in problems):
            failures.append(f"{name}: no error {' '.join(expect)!r}; got {problems}")
    for problem in problems:
        if not any(expectation_met(expect, problem) for expect in expects):
            failures.append(f"{name}: an error no `# expect:` line names: {problem}")
    print(f"self-test: {name} fails {'as it should' if not failures else 'WRONGLY'} ({len(problems)} error(s))")
    return failures


def self_test(validator):
    """Problems with the self-test fixtures."""
    broken = sorted(FIXTURES.glob("*broken-*.yaml")) + sorted(FIXTURES.glob("*broken-*.md"))
    valid = sorted(FIXTURES.glob("valid-*.yaml"))
    if not broken or not valid:
        return [f"{FIXTURES.relative_to(ROOT)}: no *broken-*.yaml or valid-*.yaml fixtures"]
    failures = [f for path in broken for f in self_test_broken(validator, path)]
    for path in valid:
        problems = check_any(validator, path)
        failures += [f"self-test (must pass): {p}" for p in problems]
        print(f"self-test: {path.relative_to(ROOT)} {'FAILS' if problems else 'passes'}")
    return failures


def check_shipped(validator):
    """(error lines, configs checked) over every shipped file, printing a line per file."""
    problems, configs = [], 0
    for path in glob(SHIPPED):
        found, count = check_file(validator, path, need_modeline=True)
        problems += found
        configs += count
        print(f"{path.relative_to(ROOT)}: {count} config(s)")
    for path in glob(DOCS):
        found, checked, skipped = check_markdown(validator, path)
        problems += found
        configs += checked
        print(f"{path.relative_to(ROOT)}: {checked} yaml block(s) checked; "
              f"not gateway configs, skipped: {', '.join(skipped) or 'none'}")
    return problems, configs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=pathlib.Path, help="check only these YAML or Markdown files")
    parser.add_argument("--schema", type=pathlib.Path, default=SCHEMA)
    args = parser.parse_args()
    schema = json.loads(args.schema.read_text())
    validator = schema_validator(schema)

    if args.files:
        problems = [p for f in args.files for p in check_any(validator, f.resolve())]
        print("\n".join(problems) or f"{len(args.files)} file(s) valid")
        return 1 if problems else 0

    problems, configs = check_shipped(validator)
    failures = self_test(validator)
    for line in problems + failures:
        print(line, file=sys.stderr)
    print(f"{configs} shipped config(s) checked: {len(problems)} error(s); self-test: {len(failures)} failure(s)")
    return 1 if problems or failures else 0


if __name__ == "__main__":
    sys.exit(main())
