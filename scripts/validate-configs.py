#!/usr/bin/env python3
"""Validates every gateway config the project ships against the committed JSON
Schema (schema/gateway.schema.json, printed by `hmac-gateway schema`), with
the independent Python `jsonschema` validator (issue #13).

    python3 scripts/validate-configs.py            # shipped configs, then the self-test
    python3 scripts/validate-configs.py FILE...    # just these files

Which YAML is checked, by glob, so files added later are covered:
- `gateway.yaml`, `deploy/**/*.y*ml`, `examples/**/*.y*ml`. A document with
  `apiVersion` and `kind` (Kubernetes) or `services` (Compose) is a carrier:
  the gateway configs it embeds are checked, i.e. ConfigMap `data` entries and
  Compose `configs.*.content` strings that parse to a mapping with `listeners`.
  Any other document is a gateway config, and its file must start with the
  `# yaml-language-server: $schema=...` modeline pointing at the schema.
- The ```yaml blocks of `README.md` and `examples/**/*.md` whose top-level keys
  are all config keys (a whole config, with `listeners:`, or whole top-level
  sections such as `replay:`; the schema requires no top-level key, so a
  section alone is checked as it stands). Other blocks are fragments (a single
  route, say) and are listed as skipped.

Self-test: every `tests/fixtures/schema/broken-*.yaml` (a config) and
`carrier-broken-*.yaml` (a manifest embedding one) must fail, with each
`# expect: /json/pointer substring` line it carries matched by an error, and
every `tests/fixtures/schema/valid-*.yaml` must pass.

Each error is printed as `file:line: /json/pointer: message`. Exit status 1
on any failure. YAML is read with PyYAML's safe loader.
"""
import argparse
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
DOCS = ["README.md", "examples/**/*.md"]
FIXTURES = ROOT / "tests" / "fixtures" / "schema"
MODELINE = "# yaml-language-server: $schema="
EXPECT = re.compile(r"^# expect: (\S+) (.+)$", re.M)


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


def line_of(node, path):
    """1-based line of the node at `path` (the deepest one that exists)."""
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if k.value == str(key)]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = [node.value[key]]
        else:
            found = []
        if not found:
            break
        node = found[0]
    return node.start_mark.line + 1


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


def pointer(error):
    return "/" + "/".join(str(p) for p in error.absolute_path)


def check_config(validator, data, node, where, line_offset=0):
    """Error lines for one gateway config."""
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in leaf_errors(error):
            line = line_of(node, list(leaf.absolute_path) + unexpected_keys(leaf)[:1]) + line_offset
            problems.append(f"{where}:{line}: {pointer(leaf)}: {leaf.message}")
    return problems


def embedded(node, data):
    """(string node, text) of each gateway config a Kubernetes or Compose document carries."""
    candidates = []
    if isinstance(data.get("data"), dict):
        candidates += [("data", k) for k in data["data"]]
    if isinstance(data.get("configs"), dict):
        candidates += [("configs", k, "content") for k in data["configs"]]
    for path in candidates:
        value = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, str):
            continue
        try:
            inner = yaml.load(value, Loader=Loader)
        except yaml.YAMLError:
            continue
        if isinstance(inner, dict) and "listeners" in inner:
            string_node = node
            for key in path:
                string_node = next(v for k, v in string_node.value if k.value == key)
            yield string_node, value


def is_carrier(data):
    return isinstance(data, dict) and (("apiVersion" in data and "kind" in data) or "services" in data)


def check_file(validator, path, need_modeline):
    """(error lines, configs checked) for one YAML file."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    text = path.read_text()
    problems, count = [], 0
    try:
        docs = list(documents(text))
    except yaml.YAMLError as e:
        return [f"{where}: not YAML: {e}"], 0
    for node, data in docs:
        if is_carrier(data):
            for string_node, config in embedded(node, data):
                inner_node, inner = next(documents(config))
                # A block scalar's text starts on the line after its `|`.
                offset = string_node.start_mark.line + 1
                problems += check_config(validator, inner, inner_node, where, offset)
                count += 1
            continue
        problems += check_config(validator, data, node, where)
        count += 1
        if need_modeline:
            expected = MODELINE + pathlib.Path(os.path.relpath(SCHEMA, path.parent)).as_posix()
            if text.splitlines()[:1] != [expected]:
                problems.append(f"{where}:1: the first line must be the editor modeline `{expected}`")
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


def check_markdown(validator, path, top_keys):
    """(error lines, blocks checked, blocks skipped) for one Markdown file."""
    where = path.relative_to(ROOT)
    problems, checked, skipped = [], 0, []
    for start, text in yaml_blocks(path):
        try:
            node, data = next(documents(text))
        except (yaml.YAMLError, StopIteration) as e:
            problems.append(f"{where}:{start}: the yaml block does not parse: {e}")
            continue
        if isinstance(data, dict) and data and set(data) <= top_keys:
            problems += check_config(validator, data, node, where, start - 1)
            checked += 1
        else:
            skipped.append(f"{where}:{start}")
    return problems, checked, skipped


def glob(patterns):
    return sorted({p for pattern in patterns for p in ROOT.glob(pattern) if p.is_file()})


def self_test(validator):
    """Problems with the self-test: a broken fixture that passes, an
    expectation no error matched, or a valid fixture that fails."""
    failures = []
    broken = sorted(FIXTURES.glob("broken-*.yaml")) + sorted(FIXTURES.glob("carrier-broken-*.yaml"))
    valid = sorted(FIXTURES.glob("valid-*.yaml"))
    if not broken or not valid:
        return [f"{FIXTURES.relative_to(ROOT)}: no broken-*.yaml or valid-*.yaml fixtures"]
    for path in broken:
        problems, _ = check_file(validator, path, need_modeline=False)
        expects = EXPECT.findall(path.read_text())
        if not problems:
            failures.append(f"{path.relative_to(ROOT)}: passed, but it is broken on purpose")
        if not expects:
            failures.append(f"{path.relative_to(ROOT)}: has no `# expect: /pointer text` line")
        for where, text in expects:
            if not any(f": {where}: " in p and text in p for p in problems):
                failures.append(f"{path.relative_to(ROOT)}: no error at {where} mentioning {text!r}; got {problems}")
        print(f"self-test: {path.relative_to(ROOT)} fails as it should ({len(problems)} error(s))")
    for path in valid:
        problems, _ = check_file(validator, path, need_modeline=False)
        failures += [f"self-test (must pass): {p}" for p in problems]
        print(f"self-test: {path.relative_to(ROOT)} {'FAILS' if problems else 'passes'}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=pathlib.Path, help="check only these YAML files")
    parser.add_argument("--schema", type=pathlib.Path, default=SCHEMA)
    args = parser.parse_args()
    schema = json.loads(args.schema.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    if args.files:
        problems = [p for f in args.files for p in check_file(validator, f.resolve(), need_modeline=False)[0]]
        print("\n".join(problems) or f"{len(args.files)} file(s) valid")
        return 1 if problems else 0

    problems, configs = [], 0
    for path in glob(SHIPPED):
        found, count = check_file(validator, path, need_modeline=True)
        problems += found
        configs += count
        print(f"{path.relative_to(ROOT)}: {count} config(s)")
    top_keys = set(schema["properties"])
    for path in glob(DOCS):
        found, checked, skipped = check_markdown(validator, path, top_keys)
        problems += found
        configs += checked
        print(f"{path.relative_to(ROOT)}: {checked} yaml block(s) checked; fragments skipped: {', '.join(skipped) or 'none'}")
    failures = self_test(validator)
    for line in problems + failures:
        print(line, file=sys.stderr)
    print(f"{configs} shipped config(s) checked: {len(problems)} error(s); self-test: {len(failures)} failure(s)")
    return 1 if problems or failures else 0


if __name__ == "__main__":
    sys.exit(main())
