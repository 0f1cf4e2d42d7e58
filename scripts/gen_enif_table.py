#!/usr/bin/env python3
"""Keeps the function table of docs/enif.md in step with the installed erl_nif_api_funcs.h.

The function list is read from the header (the ERL_NIF_API_FUNC_DECL block),
leaving out the `#if SIZEOF_LONG != 8` group, which an LP64 erl_nif.h replaces
by macros. The status and notes of each function are read from the table
itself (what lies between the BEGIN/END GENERATED TABLE markers), so the doc
is the one place they are written. The script rewrites the table in the
header's order, numbers the rows and counts the statuses; it fails if a
function of the header has no row (a new row is added with status "missing",
to be filled in) or a row names a function the header does not declare.

usage: scripts/gen_enif_table.py [--check] [HEADER [DOC]]
  --check  exit 1 if the doc is not what this script would write
"""
import os
import re
import sys

DEFAULT_HEADER = "/usr/lib/erlang/usr/include/erl_nif_api_funcs.h"
DEFAULT_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "enif.md")
BEGIN, END = "<!-- BEGIN GENERATED TABLE -->", "<!-- END GENERATED TABLE -->"
STATUSES = ("implemented", "implemented with caveat", "unsupported")


def functions(header_text):
    """Names of the functions an LP64 build of the header declares, in order."""
    out = []
    in_decl_block = False
    skipping = 0
    for line in header_text.splitlines():
        s = line.strip()
        if s.startswith("#ifdef ERL_NIF_API_FUNC_DECL"):
            in_decl_block = True
            continue
        if not in_decl_block:
            continue
        if s.startswith("#endif") and "ERL_NIF_API_FUNC_DECL" in s:
            break
        if s.startswith("#if SIZEOF_LONG != 8"):
            skipping += 1
            continue
        if skipping and s.startswith("#endif"):
            skipping -= 1
            continue
        if skipping:
            continue
        m = re.match(r"ERL_NIF_API_FUNC_DECL\(\s*[^,]+?\s*,\s*(\w+)\s*,", s)
        if m:
            out.append(m.group(1))
    return out


def rows_of(table_text):
    """{name: (status, notes)} from the rows `| n | `name` | status | notes |`."""
    rows = {}
    for line in table_text.splitlines():
        m = re.match(r"\|\s*\d+\s*\|\s*`(\w+)`\s*\|([^|]*)\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    return rows


def main():
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    header = args[0] if len(args) > 0 else DEFAULT_HEADER
    doc_path = args[1] if len(args) > 1 else DEFAULT_DOC
    names = functions(open(header).read())
    doc = open(doc_path).read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{doc_path} has no {BEGIN} ... {END} markers")
    head, _, rest = doc.partition(BEGIN)
    table, _, tail = rest.partition(END)
    rows = rows_of(table)

    problems = []
    extra = [n for n in rows if n not in names]
    if extra:
        problems.append(f"rows for functions the header does not declare: {extra}")
    out = ["| # | function | status | notes |", "|---|---|---|---|"]
    counts = {}
    for i, name in enumerate(names, 1):
        status, notes = rows.get(name, ("missing", ""))
        if status not in STATUSES:
            problems.append(f"{name}: status '{status}' is not one of {STATUSES}")
        counts[status] = counts.get(status, 0) + 1
        out.append(f"| {i} | `{name}` | {status} | {notes} |")
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts))
    generated = f"{BEGIN}\n{len(names)} functions: {summary}.\n\n" + "\n".join(out) + f"\n{END}"
    new_doc = head + generated + tail

    if check:
        if new_doc != doc:
            problems.append(f"{doc_path} is not in the form this script writes: run it")
    elif new_doc != doc:
        with open(doc_path, "w") as f:
            f.write(new_doc)
    if problems:
        sys.exit("\n".join(problems))
    print(f"{len(names)} functions: {summary}")


if __name__ == "__main__":
    main()
