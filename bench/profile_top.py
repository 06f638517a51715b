"""Self and cumulative tops of a ``py-spy record --format raw`` profile (collapsed stacks).

    .venv/bin/python bench/profile_top.py PROFILE.txt [--top 25] [--filter chat/]

Each line of the input is ``frame;frame;...;leaf COUNT`` with frames ``function (file:line)``.
Frames are grouped by function and file (line numbers dropped). *self*: samples whose leaf is
the function; *cumulative*: samples with the function anywhere on the stack (once per sample).
Percentages are of all samples (every thread that was not idle).
"""
from __future__ import annotations

import argparse
import re
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3", "/wt-lean/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def tops(lines: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            cumulative[name] += count
    return total, own, cumulative


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="", help="cumulative: only frames whose file contains this")
    args = parser.parse_args()
    with open(args.profile) as handle:
        total, own, cumulative = tops(handle.readlines())
    print(f"{total} samples")
    print("\n| self % | function |\n|---:|---|")
    for name, count in own.most_common(args.top):
        print(f"| {100 * count / total:.1f} | `{name}` |")
    print("\n| cumulative % | function |\n|---:|---|")
    shown = [(n, c) for n, c in cumulative.most_common() if args.filter in n][: args.top]
    for name, count in shown:
        print(f"| {100 * count / total:.1f} | `{name}` |")


if __name__ == "__main__":
    main()
