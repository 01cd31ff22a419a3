"""OBS_LAYOUT_VERSION is derived from the layout table: every row parsed, any edit changes the hash."""

from testbed import observation as ob


def test_layout_rows_and_version():
    rows = ob.OBS_LAYOUT
    assert rows[0] == ("0", "surge u through the water / 5", "m/s", "[-1, 1.5]")
    assert all(len(r) == 4 and all(r) for r in rows), rows  # no empty cell: the parser kept the columns
    assert sum(r[0].startswith("+") for r in rows) == 6 + 3  # the target block's and the link block's follow-on rows
    assert ob.OBS_LAYOUT_VERSION.startswith(f"{ob.OBS_LAYOUT_FORMAT}-")
    edited = ob.LAYOUT_TABLE.replace("distance to the goal / 2000", "distance to the goal / 1000")
    assert ob.layout_rows(edited) != rows and ob.layout_rows(edited)[9][1] == "distance to the goal / 1000"
    assert "LAYOUT_TABLE" in ob.__doc__ and "surge u through the water" in ob.__doc__
