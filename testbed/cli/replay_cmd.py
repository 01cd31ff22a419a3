"""``testbed replay``: check, describe, watch and export replay files.

    testbed replay verify FILE            re-simulate and check every recorded state bit for bit
                                          (exit 0 identical, 1 mismatch, 2 unreadable file or header)
    testbed replay info FILE [--json]     the header and a summary of the events
    testbed replay FILE [B]               watch it (the pygame viewer; B: a second replay as a ghost)
    testbed replay FILE --export OUT      OUT.mcap (Foxglove), OUT.nmea (AIS), OUT.geojson (kepler.gl),
                                          OUT.mp4 / .gif / .png (frames) / .thumb.png (the viewer's
                                          renderer); an existing OUT needs --force
"""

from __future__ import annotations

import json
import math
from pathlib import Path

EXPORTS_HERE = (".mcap", ".nmea", ".geojson")  # everything else goes to the viewer's export_video


def register(sub) -> None:
    p = sub.add_parser("replay", help="verify, describe, view or export replay files",
                       description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("args", nargs="+", metavar="FILE",
                   help="'verify FILE', 'info FILE', or FILE [B] to view or export")  # fmt: skip
    p.add_argument("--export", default=None, metavar="OUT",
                   help="write OUT: .mcap, .nmea, .geojson; with the viewer .mp4, .gif, a PNG frame folder, .thumb.png")
    p.add_argument("--force", action="store_true", help="overwrite an existing export")
    p.add_argument("--map", default=None, help="map name for a raw AIS log (.nmea) in the viewer")
    p.add_argument("--json", action="store_true", help="info: print the header as JSON")
    p.add_argument("--every", type=int, default=1, help="exports: write every N-th frame (default 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from testbed.cli import CLIError

    words = list(args.args)
    if words[0] == "verify":
        if len(words) != 2:
            raise CLIError("usage: testbed replay verify FILE")
        return verify_cmd(words[1])
    if words[0] == "info":
        if len(words) != 2:
            raise CLIError("usage: testbed replay info FILE [--json]")
        return info_cmd(words[1], args.json)
    if len(words) > 2:
        raise CLIError(f"at most two replays (A and B), got {len(words)}: {' '.join(words)}")
    if args.every < 1:
        raise CLIError(f"--every must be >= 1, got {args.every}")
    for w in words:
        if not Path(w).is_file():
            raise CLIError(f"{w}: no such file")
    if args.export:
        return export_cmd(words, args.export, args.force, args.every, args.map)
    viewer = _viewer()
    return int(viewer.run(words, map_name=args.map) or 0)


def _viewer():
    from testbed.cli import CLIError

    try:
        from testbed.replay import viewer
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("testbed.replay.viewer"):
            raise CLIError("the replay viewer (testbed.replay.viewer) is not installed in this checkout") from None
        raise
    return viewer


def verify_cmd(path: str) -> int:
    from testbed.replay.verify import verify

    res = verify(path)
    print(res.summary())
    return 0 if res.identical else 1


def info_cmd(path: str, as_json: bool) -> int:
    from testbed.replay import ReplayReader

    with ReplayReader(path) as r:
        h = dict(r.header)
        if as_json:
            h["events"] = r.events
            print(json.dumps(h, indent=2))
            return 0
        print(describe(r))
    return 0


def describe(r) -> str:
    h = r.header
    v = h.get("vessels", {})
    ego = v.get("ego", {})
    lines = [
        f"replay      {r.path}  (format {h['format_version']}, simulator {h.get('simulator_version')}, "
        f"git {str(h.get('git_hash') or 'unknown')[:12]})",
        f"scenario    {h.get('scenario')}  seed {h.get('seed')} episode {h.get('episode')}  agent {h.get('agent')}",
        f"outcome     {h.get('outcome')} after {h.get('n_steps')} steps ({h.get('duration_s', 0):.0f} s, "
        f"dt {h.get('dt')} s), return {h.get('return', math.nan):.2f}",
        f"map         {h.get('map', {}).get('name')}  sha256 {str(h.get('map', {}).get('sha256'))[:16]}...",
        f"link        {h.get('link', {}).get('profile')} ({h.get('link', {}).get('mode')})",
        f"ego         {ego.get('name')}  MMSI {ego.get('mmsi')}  {ego.get('type')} "
        f"{ego.get('length_m', 0):.1f} x {ego.get('beam_m', 0):.2f} m",
        f"traffic     {len(v.get('traffic', []))} vessel(s)",
    ]  # fmt: skip
    for tv in v.get("traffic", []):
        lines.append(f"  [{tv['slot']:2}] {tv['name'][:24]:24} MMSI {tv['mmsi']:9}  {tv['type']:6} "
                     f"{tv['length_m']:6.1f} x {tv['beam_m']:5.2f} m  ({tv['source']})")  # fmt: skip
    counts = h.get("event_counts", {})
    lines.append("events      " + (", ".join(f"{k} {n}" for k, n in counts.items()) or "none"))
    for ev in r.events[:20]:
        lines.append(f"  t={ev['t']:8.1f} s  step {ev['step']:5}  {ev['kind']:14} {ev['text']}")
    if len(r.events) > 20:
        lines.append(f"  ... {len(r.events) - 20} more (testbed replay info --json)")
    return "\n".join(lines)


def export_cmd(paths: list[str], out: str, force: bool, every: int, map_name: str | None = None) -> int:
    from testbed.cli import CLIError

    outp = Path(out)
    low = outp.name.lower()
    if outp.exists() and not force:
        raise CLIError(f"{out} exists; pass --force to overwrite it")
    if len(paths) != 1:
        raise CLIError(f"--export takes one replay, got {len(paths)}")
    if low.endswith(EXPORTS_HERE):
        if low.endswith(".mcap"):
            from testbed.replay.export_mcap import export_mcap as fn
        elif low.endswith(".nmea"):
            from testbed.replay.export_nmea import export_nmea as fn
        else:
            from testbed.replay.export_geojson import export_geojson as fn
        stats = fn(paths[0], outp, every=every)
        print(f"wrote {out}: {stats}")
        return 0
    # video, GIF, PNG frames or a thumbnail: the viewer's renderer decides and names bad targets
    viewer = _viewer()
    res = viewer.export_video(paths[0], out, force=force, **({"map_name": map_name} if map_name else {}))
    print(f"wrote {out}" + (f": {res}" if res else ""))
    return 0
