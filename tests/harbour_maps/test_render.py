"""``testbed map show`` / ``list`` and the PNG renderer."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from shapely.geometry import LineString, Point

from harbour_maps import load_map
from harbour_maps.render import LAND_COLOUR, WATER_COLOUR, render_map
from testbed.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _share(img, colour, tol=0.02):
    rgb = np.asarray(to_rgb(colour))
    return float(np.mean(np.all(np.abs(img[..., :3] - rgb) < tol, axis=-1)))


@pytest.fixture(scope="module")
def m():
    return load_map("duisburg_ruhrort")


def test_cli_show_writes_png(tmp_path, capsys, m):
    out = tmp_path / "map.png"
    assert main(["map", "show", "duisburg_ruhrort", "--out", str(out), "--width", "800"]) == 0
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 50_000
    img = imread(out)
    assert img.shape[1] == 800 and img.shape[0] > 800  # the map is taller than wide
    assert 0.03 < _share(img, WATER_COLOUR) < 0.6  # v2 map: 5 x 10 km, the river and the port
    assert _share(img, LAND_COLOUR) > 0.3
    assert not list(tmp_path.glob(".map.png.*")), "no temp file left behind"


def test_bbox_pixels_water_and_land(tmp_path, m):
    # a 120 m box in mid-river (between the lanes, no labels) is water; one over the filled Nordhafen is land
    down = next(ln for ln in m.lanes if ln.role == "downstream")
    up = LineString(next(ln for ln in m.lanes if ln.role == "upstream").xy)
    k = int(np.argmin(np.abs(down.km - 782.0)))
    q = up.interpolate(up.project(Point(down.xy[k])))
    x, y = (down.xy[k] + [q.x, q.y]) / 2.0  # on the river axis, ~40 m from each lane
    assert m.signed_distance(np.array([[x, y]]))[0] > 100
    assert min(LineString(ln.xy).distance(Point(x, y)) for ln in m.lanes) > 30
    box = (float(x) - 15, float(y) - 15, float(x) + 15, float(y) + 15)
    out = render_map(m, tmp_path / "water.png", width_px=300, bbox=box, show_current=False)
    img = imread(out)
    h = img.shape[0]
    plot = img[int(0.5 * h):, :]  # below the title
    cy, cx = plot.shape[0] // 2, plot.shape[1] // 2
    assert np.allclose(plot[cy, cx, :3], to_rgb(WATER_COLOUR), atol=0.02)
    assert _share(plot, WATER_COLOUR) > 0.8
    x, y = m.frame.to_local(6.73309, 51.46787)
    out = render_map(m, tmp_path / "land.png", width_px=300, bbox=(x - 60, y - 60, x + 60, y + 60))
    plot = imread(out)[int(0.5 * h):, :]
    assert _share(plot, LAND_COLOUR) > 0.8


def test_cli_show_bbox_and_errors(tmp_path, capsys):
    out = tmp_path / "port.png"
    assert main(["map", "show", "duisburg_ruhrort", "--out", str(out), "--width", "600",
                 "--bbox", "6.74,51.44,6.78,51.46"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    capsys.readouterr()
    assert main(["map", "show", "no_such_harbour", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "no_such_harbour" in err and "duisburg_ruhrort" in err
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(SystemExit) as exc:
        main(["map", "show", "duisburg_ruhrort", "--out", str(out), "--bbox", "1,2,3"])
    assert exc.value.code == 2


def test_cli_list(capsys):
    assert main(["map", "list"]) == 0
    out = capsys.readouterr().out
    assert "duisburg_ruhrort" in out and "derived" in out
