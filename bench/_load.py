"""A wrk wrapper: POST one JSON body at a URL and return req/s, latency and status counts.

It writes a Lua script that sets method, body and headers, counts responses by status in
each wrk thread and prints them, with p50/p90/p99 latency, from `done()`; then it runs
`wrk --latency` (bounded by a subprocess timeout) and parses the figures. One wrk thread by
default: this machine has two cores and the server under test needs one of them.

    result = run_wrk("http://127.0.0.1:8080/v1/messages", body, {"x-api-key": key},
                     connections=64, duration=10, expected_status=202)
    result["rps"], result["ok_rps"], result["p99_ms"], result["statuses"]
"""

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_LUA = """\
wrk.method = "POST"
wrk.body = {body}
{headers}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {{}}
end

{response}

function done(summary, latency, requests)
  local total = {{}}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("IEP_STATUS %d %d\\n", status, count))
  end
  local e = summary.errors
  io.write(string.format(
    "IEP_SUMMARY requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
    .. "connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_string(text: str) -> str:
    """A Lua double-quoted string literal for any text (bytes escaped as \\ddd)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


_RESPONSE = """\
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
"""


def write_script(
    path: Path,
    body: str | bytes | dict[str, Any],
    headers: dict[str, str],
    count_statuses: bool = True,
) -> Path:
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":"))
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    all_headers = {"Content-Type": "application/json", **headers}
    header_lines = "\n".join(
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in all_headers.items()
    )
    response = _RESPONSE if count_statuses else ""
    text = _LUA.format(body=lua_string(body), headers=header_lines, response=response)
    path.write_text(text, encoding="utf-8")
    return path


def run_wrk(
    url: str,
    body: str | bytes | dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    connections: int = 64,
    duration: float = 10.0,
    threads: int = 1,
    expected_status: int = 202,
    timeout_seconds: float = 10.0,
    count_statuses: bool = True,
) -> dict[str, Any]:
    """Run wrk once and return the figures.

    With `count_statuses=False` the Lua `response()` hook is left out (wrk then skips handing
    each response to Lua; measured here as within run-to-run noise, up to ~10 %), statuses
    stays empty and "ok" counts every response that was not "Non-2xx or 3xx".

    Returns:
        {"rps": all responses/s (wrk's Requests/sec), "ok": count of `expected_status`,
         "ok_rps": those per second, "statuses": {code: count}, "p50_ms", "p90_ms", "p99_ms",
         "max_ms", "requests", "duration_s", "errors": {connect, read, write, status, timeout},
         "command": [...], "stdout": wrk's output}
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk missing: run scripts/bench-deps")
    with tempfile.TemporaryDirectory(prefix="iep-wrk-") as tmp:
        script = write_script(Path(tmp) / "post.lua", body, headers or {}, count_statuses)
        command = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout_seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + timeout_seconds + 30
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_output(done.stdout, expected_status, count_statuses) | {"command": command}


def parse_output(
    stdout: str, expected_status: int = 202, count_statuses: bool = True
) -> dict[str, Any]:
    statuses = {
        int(code): int(count)
        for code, count in re.findall(r"^IEP_STATUS (\d+) (\d+)$", stdout, re.M)
    }
    match = re.search(r"^IEP_SUMMARY (.*)$", stdout, re.M)
    if match is None:
        raise RuntimeError(f"no summary in wrk output:\n{stdout}")
    summary = {key: int(value) for key, value in (p.split("=") for p in match.group(1).split())}
    rps_match = re.search(r"^Requests/sec:\s+([\d.]+)", stdout, re.M)
    duration_s = summary["duration_us"] / 1e6
    if count_statuses:
        ok = statuses.get(expected_status, 0)
    else:
        non_2xx = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", stdout, re.M)
        ok = summary["requests"] - (int(non_2xx.group(1)) if non_2xx else 0)
    return {
        "rps": float(rps_match.group(1)) if rps_match else summary["requests"] / duration_s,
        "ok": ok,
        "ok_rps": ok / duration_s if duration_s else 0.0,
        "statuses": statuses,
        "requests": summary["requests"],
        "duration_s": duration_s,
        "p50_ms": summary["p50_us"] / 1000,
        "p90_ms": summary["p90_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "max_ms": summary["max_us"] / 1000,
        "errors": {k: summary[k] for k in ("connect", "read", "write", "status", "timeout")},
        "stdout": stdout,
    }
