#!/usr/bin/env python3
"""A WAN cable with latency and loss, for kernels without sch_netem.

The lab normally joins a NAT router to the internet bridge with a veth pair and shapes it with
netem. Where the kernel has no netem (this project's machine), test/lab/netns.ts joins them
with two TAP devices instead and runs this script between them: every Ethernet frame read from
one TAP is written to the other after a fixed delay, or dropped with a given probability.

Why Python: attaching to a TAP device needs the TUNSETIFF ioctl, which Node cannot issue
without a native addon; python3 can.

Usage: delay-line.py TAP_A TAP_B   (run inside the namespace that should hold both TAPs; the
lab moves TAP_B to the other namespace after "ready"). Commands on stdin, one per line:
"shape DELAY_MS LOSS_PERCENT" (one way, both directions), answered "ok". The script exits
when stdin closes, and the TAPs vanish with it.
"""
import collections
import fcntl
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
# A cable that long would hold many seconds of frames: past this many queued, frames drop
# (a router's queue would overflow too), so memory stays bounded.
MAX_QUEUED = 20_000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    a, b = open_tap(sys.argv[1]), open_tap(sys.argv[2])
    other = {a: b, b: a}
    # Frames on their way to each TAP, oldest first, with the time each is due.
    waiting = {a: collections.deque(), b: collections.deque()}
    delay, loss = 0.0, 0.0
    stdin = sys.stdin.fileno()
    pending = b""
    print("ready", flush=True)
    while True:
        due = [q[0][0] for q in waiting.values() if q]
        timeout = max(0.0, min(due) - time.monotonic()) if due else None
        readable, _, _ = select.select([a, b, stdin], [], [], timeout)
        for fd in readable:
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    words = line.decode().split()
                    if len(words) == 3 and words[0] == "shape":
                        delay, loss = float(words[1]) / 1000, float(words[2]) / 100
                        print("ok", flush=True)
                    elif words:
                        print(f"error unknown command {line.decode()!r}", flush=True)
                continue
            while True:
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                queue = waiting[other[fd]]
                if (loss and random.random() < loss) or len(queue) >= MAX_QUEUED:
                    continue
                queue.append((time.monotonic() + delay, frame))
        now = time.monotonic()
        for fd, queue in waiting.items():
            while queue and queue[0][0] <= now:
                frame = queue.popleft()[1]
                try:
                    os.write(fd, frame)
                except OSError:
                    pass  # the TAP is down (an outage test): the frame is lost, as on a cable


if __name__ == "__main__":
    main()
