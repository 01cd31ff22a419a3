"""``testbed map``: list shipped maps, draw a map to a PNG, import an OpenStreetMap extract."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("map", help="harbour maps: list, show (draw to PNG), import (from OpenStreetMap)",
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

    ip = msub.add_parser("import", help="convert an OpenStreetMap extract (.osm XML or GeoJSON) to a map")
    ip.add_argument("file", metavar="FILE", help=".osm XML or Overpass/QGIS GeoJSON export")
    ip.add_argument("--out", default=None, help="output map .geojson (default: ./NAME.geojson)")
    ip.add_argument("--name", default=None, help="map name (default: from the file name)")
    ip.set_defaults(func=_cmd_import)


def _bbox(text: str):
    try:
        v = [float(t) for t in text.split(",")]
    except ValueError:
        v = []
    if len(v) != 4 or not (v[2] > v[0] and v[3] > v[1]):
        raise argparse.ArgumentTypeError(f"bad --bbox {text!r}: expected LON0,LAT0,LON1,LAT1 with LON1>LON0, LAT1>LAT0")
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

    out, report = import_osm(args.file, out=args.out, name=args.name)
    print(report.summary())
    print(f"wrote {out}")
    return 0
