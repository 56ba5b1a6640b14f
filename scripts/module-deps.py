#!/usr/bin/env python3
"""Prints which of the gateway's top-level modules use which, and fails when
they form a cycle (issue #11: layers the compiler cannot enforce inside one
crate are checked here instead; `cargo modules` needs a rust-analyzer build).

A module "uses" another when its code names `crate::<other>`; comments and
doc links are ignored.

    python3 scripts/module-deps.py
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
USE = re.compile(r"\bcrate::([a-z_][a-z_0-9]*)")


def top_level_modules():
    lib = (SRC / "lib.rs").read_text()
    return re.findall(r"^(?:pub )?(?:mod|use hmac_gateway_sig as) ([a-z_0-9]+);", lib, re.M)


def files_of(module):
    single = SRC / f"{module}.rs"
    files = [single] if single.exists() else []
    folder = SRC / module
    if folder.is_dir():
        files += sorted(folder.rglob("*.rs"))
    return files


def code_only(text):
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def graph():
    modules = top_level_modules()
    edges = {}
    for module in modules:
        used = set()
        for path in files_of(module):
            used.update(USE.findall(code_only(path.read_text())))
        edges[module] = sorted(u for u in used if u in modules and u != module)
    return edges


def find_cycle(edges):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in edges:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def main():
    edges = graph()
    for module, used in edges.items():
        print(f"{module:11} -> {', '.join(used) or '(nothing in this crate)'}")
    cycle = find_cycle(edges)
    if cycle:
        print("cycle: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    print("no cycle between top-level modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
