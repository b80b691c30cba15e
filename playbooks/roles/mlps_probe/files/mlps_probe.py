#!/usr/bin/python3
"""Run read-only check commands and print {"checks": {id: {"rc", "out"}}, "started", "finished"} as JSON.

argv: TIMEOUT BASE64(JSON [{"id", "cmd"}]). Runs on the audited host (stdlib only)."""
import base64
import json
import subprocess
import sys
import time

timeout = int(sys.argv[1])
checks = json.loads(base64.b64decode(sys.argv[2]))
out = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "checks": {}}
env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
for chk in checks:
    try:
        p = subprocess.run(["/bin/bash", "-c", chk["cmd"]], capture_output=True, text=True, timeout=timeout,
                           env=env, stdin=subprocess.DEVNULL)
        out["checks"][chk["id"]] = {"rc": p.returncode, "out": p.stdout.strip()[:2000], "err": p.stderr.strip()[:300]}
    except subprocess.TimeoutExpired:
        out["checks"][chk["id"]] = {"rc": -1, "out": "", "err": f"timed out after {timeout}s"}
out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
print(json.dumps(out, ensure_ascii=False))
