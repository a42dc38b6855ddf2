#!/usr/bin/env python3
"""The module graph of src/: which module names which (`crate::x`), checked for cycles.

    scripts/module-graph.py            check: exit 1 (naming the cycle) if two modules depend on
                                       each other, directly or through others
    scripts/module-graph.py --layers   the graph, bottom layer first, as docs/design.md shows it

A module is a file src/NAME.rs (or src/NAME/mod.rs with its submodules); `lib.rs` only wires
them and is left out, as are the #[pg_test]s (src/pg_tests.rs), which test everything.
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
SKIP = {"lib", "pg_tests"}


def strip_comments(text):
    """Source without comments and string literals (which may mention crate:: in prose)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif text[i] == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def group_heads(group):
    """The first path segment of each top-level item of a `{a, b::c, d::{e, f}}` group."""
    heads, depth, item = [], 0, ""
    for ch in group:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and ch == ",":
            heads.append(item)
            item = ""
        elif depth > 0 or ch not in "{}":
            item += ch
    heads.append(item)
    return [m.group(0) for h in heads if (m := re.match(r"[A-Za-z_]\w*", h.strip()))]


def deps_of(text, modules):
    code = strip_comments(text)
    found = set()
    for m in re.finditer(r"\bcrate::", code):
        rest = code[m.end():].lstrip()
        if rest.startswith("{"):
            depth, end = 0, 0
            for end, ch in enumerate(rest):
                depth += ch == "{"
                depth -= ch == "}"
                if depth == 0:
                    break
            names = group_heads(rest[1:end])
        else:
            names = re.findall(r"^[A-Za-z_]\w*", rest)
        found.update(n for n in names if n in modules)
    return found


def graph():
    files = {}
    for path in sorted(SRC.rglob("*.rs")):
        rel = path.relative_to(SRC)
        name = rel.parts[0].removesuffix(".rs")
        if name not in SKIP:
            files.setdefault(name, []).append(path)
    modules = set(files)
    edges = {}
    for name, paths in files.items():
        deps = set()
        for p in paths:
            deps |= deps_of(p.read_text(), modules)
        deps.discard(name)
        edges[name] = deps
    return edges


def find_cycle(edges):
    """A list of modules forming a cycle, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def layers(edges):
    """Modules by layer: each uses only modules of lower layers."""
    level = {}

    def depth(node):
        if node not in level:
            level[node] = 1 + max((depth(d) for d in edges[node]), default=-1)
        return level[node]

    for node in edges:
        depth(node)
    return [sorted(n for n in edges if level[n] == k) for k in range(max(level.values()) + 1)]


def main():
    edges = graph()
    cycle = find_cycle(edges)
    if cycle:
        print("module cycle in src/: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    if "--layers" in sys.argv[1:]:
        for k, names in enumerate(layers(edges)):
            for name in names:
                deps = ", ".join(sorted(edges[name])) or "-"
                print(f"{k}  {name:<12} -> {deps}")
    else:
        print(f"module graph of src/: {len(edges)} modules, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
