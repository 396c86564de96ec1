#!/usr/bin/env python3
"""Seed corpora from the example files: writes <out>/<target>/ for each fuzz target.

  workflow   every journey, template and audience file under workflows/ as it is
  condition  every condition in them, with the contacts and events of the journey tests
             as its scope ({"condition", "contact", "trigger", "event", "now", "history"})
  template   every text with `{{` in them (send fields, library templates), then NUL and
             the data of a test's contact and first event

The hand-written seeds in fuzz/seeds/<target>/ are read beside these (docs/fuzzing.md).
"""
import hashlib
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1])
files = sorted(p for p in (root / "workflows").rglob("*.json") if "schema" not in p.name)
docs = [(p, json.loads(p.read_text())) for p in files]


def write(target, data):
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def walk(value, found, key=None):
    """Conditions (under condition, conditions or where) and template texts."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("condition", "conditions", "where") and isinstance(v, dict):
                found["conditions"].append(v)
            walk(v, found, k)
    elif isinstance(value, list):
        for v in value:
            walk(v, found, key)
    elif isinstance(value, str) and "{{" in value:
        found["texts"].append(value)


found = {"conditions": [], "texts": []}
scopes = []
for path, doc in docs:
    write("workflow", path.read_bytes())
    if path.name.endswith(".test.json"):
        for test in doc.get("tests", []):
            contact = test.get("contact", {})
            events = [
                {"name": e.get("name", ""), "properties": e.get("properties", {}), "timestamp": "2026-01-05T09:00:00Z"}
                for e in test.get("events", [])
            ]
            scopes.append((contact, events))
    else:
        walk(doc, found)
scopes = scopes or [({"id": "c"}, [])]

for i, condition in enumerate(found["conditions"]):
    contact, events = scopes[i % len(scopes)]
    seed = {"condition": condition, "contact": contact, "now": "2026-01-06T09:00:00Z", "history": events}
    if events:
        seed["trigger"] = events[0]
        seed["event"] = events[-1]
    write("condition", json.dumps(seed).encode())

for i, text in enumerate(found["texts"]):
    contact, events = scopes[i % len(scopes)]
    data = {"contact": {**contact.get("attributes", {}), "id": contact.get("id", "c")}}
    if events:
        data["trigger"] = data["event"] = events[0]
    write("template", text.encode() + b"\0" + json.dumps(data).encode())
