"""``testbed map``: list shipped maps, draw a map to a PNG, import an OpenStreetMap extract (XML, PBF,
GeoJSON), build a generated map (optionally with surveyed water)."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("map", help="harbour maps: list, show (draw to PNG), import (from OpenStreetMap), build",
                       description="Harbour maps: list the shipped maps, draw one, import an OSM extract.")
    msub = p.add_subparsers(dest="map_command", metavar="MAP_COMMAND")
    msub.required = True

    lp = msub.add_parser("list", help="list the shipped maps")
    lp.set_defaults(func=_cmd_list)

    sp = msub.add_parser("show", help="draw a map to a PNG for checking")
    sp.add_argument("map", metavar="NAME|PATH", help="shipped map name or path to a map .geojson")
    sp.add_argument("--out", required=True, help="output PNG file")
    sp.add_argument("--width", type=int, default=1600, help="image width in pixels (default 1600)")
    sp.add_argument("--bbox", type=_bbox, default=None, metavar="LON0,LAT0,LON1,LAT1",
                    help="draw only this WGS84 box (default: the whole map)")
    sp.add_argument("--discharge", type=float, default=None,
                    help="discharge in m3/s for the current arrows (default: the map's default)")
    sp.add_argument("--no-current", action="store_true", help="do not draw current arrows")
    sp.set_defaults(func=_cmd_show)

    ip = msub.add_parser("import", help="convert an OpenStreetMap extract (.osm XML, .osm.pbf or GeoJSON) to a map")
    ip.add_argument("file", metavar="FILE", help=".osm XML, .osm.pbf (read with pyosmium) or Overpass/QGIS GeoJSON")
    ip.add_argument("--out", default=None, help="output map .geojson (default: ./NAME.geojson)")
    ip.add_argument("--name", default=None, help="map name (default: from the file name)")
    ip.add_argument("--bbox", type=_bbox, default=None, metavar="W,S,E,N",
                    help="clip to this WGS84 box (west,south,east,north degrees); elements wholly outside "
                         "are counted as skipped")
    ip.set_defaults(func=_cmd_import)

    bp = msub.add_parser("build", help="build a generated map, optionally with surveyed water polygons",
                         description="Build a map from its generator (duisburg_ruhrort). With --water-from, its "
                                     "water polygons are replaced by those of an imported map (testbed map "
                                     "import); lanes, berths, bridges, km, locks and cell sites stay or are "
                                     "snapped onto the new water, and those that end on land are listed by id.")
    bp.add_argument("map", metavar="NAME", help="generated map name (duisburg_ruhrort)")
    bp.add_argument("--water-from", default=None, metavar="FILE",
                    help="map .geojson whose water features replace the generated water")
    bp.add_argument("--out", default=None, help="output map .geojson (default: ./NAME.geojson)")
    bp.add_argument("--max-snap-m", type=float, default=300.0,
                    help="move a lane vertex or berth on land at most this far onto the water (default 300)")
    bp.set_defaults(func=_cmd_build)


def _bbox(text: str):
    try:
        v = [float(t) for t in text.split(",")]
    except ValueError:
        v = []
    if len(v) != 4 or not (-180 <= v[0] < v[2] <= 180 and -90 <= v[1] < v[3] <= 90):
        raise argparse.ArgumentTypeError(f"bad --bbox {text!r}: expected LON0,LAT0,LON1,LAT1 (W,S,E,N) "
                                         f"with LON1>LON0, LAT1>LAT0")
    return v


def _cmd_list(args) -> int:
    from harbour_maps import list_maps, map_path

    names = list_maps()
    if not names:
        print("no shipped maps")
    for name in names:
        try:
            md = json.loads(map_path(name).read_text(encoding="utf-8")).get("metadata", {})
            acc = md.get("accuracy", {}).get("horizontal_m", "?")
            print(f"{name:24s} {md.get('title', '')}  [accuracy +-{acc} m]")
        except (OSError, ValueError) as exc:
            print(f"{name:24s} (unreadable: {exc})")
    return 0


def _cmd_show(args) -> int:
    from harbour_maps import load_map
    from harbour_maps.render import render_map

    m = load_map(args.map)
    bbox = None
    if args.bbox is not None:
        lon0, lat0, lon1, lat1 = args.bbox
        xs, ys = m.frame.to_local([lon0, lon1, lon0, lon1], [lat0, lat0, lat1, lat1])
        bbox = (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))
    out = render_map(m, args.out, width_px=args.width, bbox=bbox, discharge=args.discharge,
                     show_current=not args.no_current)
    print(f"wrote {out}")
    return 0


def _cmd_import(args) -> int:
    from harbour_maps.osm_import import import_osm

    out, report = import_osm(args.file, out=args.out, name=args.name, bbox=args.bbox)
    print(report.summary())
    print(f"wrote {out}")
    return 0


def _cmd_build(args) -> int:
    from pathlib import Path

    from atomicio import write_text
    from harbour_maps.build.duisburg import dumps
    from harbour_maps.build.water_from import generate, with_water_from

    if args.max_snap_m < 0:
        from testbed.cli import CLIError

        raise CLIError(f"--max-snap-m must be >= 0, got {args.max_snap_m}")
    fc = generate(args.map)
    if args.water_from is not None:
        fc, report = with_water_from(fc, args.water_from, max_snap_m=args.max_snap_m)
        print(report.summary())
    out = Path(args.out) if args.out else Path.cwd() / f"{args.map}.geojson"
    write_text(out, dumps(fc))
    print(f"wrote {out} ({len(fc['features'])} features)")
    return 0
