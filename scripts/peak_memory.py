"""Run a command and report its peak memory, read from /proc/PID/status every 0.2 s:
anonymous (heap, the process's own) and file-backed (memory-mapped files, which the kernel
can drop and re-read) resident sizes, and the peak of their sum (VmHWM). With
--interrupt-after S the command gets SIGINT (Ctrl-C) after S seconds and is waited for.
Usage: peak_memory.py [--interrupt-after S] -- COMMAND [ARGS...]; prints one JSON line.
The command's own output goes to stderr."""
import json
import signal
import subprocess
import sys
import time

args = sys.argv[1:]
interrupt_after = None
if args[:1] == ["--interrupt-after"]:
    interrupt_after, args = float(args[1]), args[2:]
if args[:1] == ["--"]:
    args = args[1:]
start = time.time()
proc = subprocess.Popen(args, stdout=sys.stderr)
peak = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
interrupted = False
while proc.poll() is None:
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in peak:
                    peak[key] = max(peak[key], int(value.split()[0]) * 1024)
    except (FileNotFoundError, ProcessLookupError):
        break
    if interrupt_after is not None and not interrupted and time.time() - start > interrupt_after:
        proc.send_signal(signal.SIGINT)
        interrupted = True
    time.sleep(0.2)
code = proc.wait()
print(json.dumps({"exit_code": code, "seconds": time.time() - start, "peak_anon_bytes": peak["RssAnon"],
                  "peak_file_bytes": peak["RssFile"], "peak_rss_bytes": peak["VmHWM"]}))
