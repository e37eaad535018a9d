#!/usr/bin/env python3
"""Extract the part of GitHub's OpenAPI description that the hive-testkit emulator serves.

Usage (from the workspace root):

    cd /tmp && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz
    python3 testkit/scripts/extract-openapi.py /tmp/package/generated/api.github.com.json

It writes testkit/openapi/subset.json: for every (path, method) in ENDPOINTS, the success responses'
schemas and examples, plus every component they reference, transitively. Nothing is rewritten: OpenAPI 3.0's
`nullable` is translated by the test that validates against it, so the file stays GitHub's text.
"""

import json
import os
import sys

# The endpoints the emulator serves, as GitHub's OpenAPI description spells them.
ENDPOINTS = [
    ("/orgs/{org}/repos", "get"),
    ("/orgs/{org}/repos", "post"),
    ("/user", "get"),
    ("/user/repos", "post"),
    ("/users/{username}", "get"),
    ("/users/{username}/repos", "get"),
    ("/repos/{owner}/{repo}", "get"),
    ("/repos/{owner}/{repo}", "delete"),
    ("/repos/{owner}/{repo}/branches", "get"),
    ("/repos/{owner}/{repo}/actions/runs", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs", "post"),
    ("/repos/{owner}/{repo}/issues", "get"),
    ("/repos/{owner}/{repo}/issues", "post"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "patch"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/labels", "post"),
    ("/repos/{owner}/{repo}/pulls", "get"),
    ("/repos/{owner}/{repo}/pulls", "post"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "patch"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/merge", "put"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "post"),
    ("/repos/{owner}/{repo}/git/ref/{ref}", "get"),
    ("/repos/{owner}/{repo}/git/refs", "post"),
    ("/repos/{owner}/{repo}/contents/{path}", "get"),
    ("/repos/{owner}/{repo}/contents/{path}", "put"),
    ("/repos/{owner}/{repo}/commits/{ref}/check-runs", "get"),
    ("/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", "get"),
    ("/repos/{owner}/{repo}/commits/{ref}/status", "get"),
    ("/repos/{owner}/{repo}/dependabot/alerts", "get"),
    ("/rate_limit", "get"),
    ("/search/issues", "get"),
]

# Components the emulator renders that no endpoint above references directly.
EXTRA_SCHEMAS = ["basic-error", "simple-user"]


def refs_in(node, out):
    """Collect every `$ref` string below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.add(value)
            else:
                refs_in(value, out)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, out)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "api.github.com.json"
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "openapi", "subset.json")
    spec = json.load(open(source))
    paths = {}
    for path, method in ENDPOINTS:
        op = spec["paths"][path][method]
        responses = {}
        for code, response in op["responses"].items():
            if not code.startswith("2"):
                continue
            if "$ref" in response:
                response = spec["components"]["responses"][response["$ref"].split("/")[-1]]
            responses[code] = response
        paths.setdefault(path, {})[method] = {"operationId": op.get("operationId"), "responses": responses}

    # Follow references until nothing new turns up: schemas pull in schemas, examples stand alone.
    wanted = set("#/components/schemas/" + name for name in EXTRA_SCHEMAS)
    refs_in(paths, wanted)
    components = {}
    done = set()
    while wanted - done:
        ref = sorted(wanted - done)[0]
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        found = set()
        refs_in(node, found)
        wanted |= found

    subset = {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"],
                 "x-extracted-by": "testkit/scripts/extract-openapi.py"},
        "paths": paths,
        "components": components,
    }
    with open(target, "w") as f:
        json.dump(subset, f, indent=0, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {target}: {len(paths)} paths, "
          + ", ".join(f"{len(v)} {k}" for k, v in components.items()))


if __name__ == "__main__":
    main()
