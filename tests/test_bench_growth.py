"""bench/growth.py's table and plot say how a cost grows, from the figures they are given."""

import xml.etree.ElementTree as ET

from bench import growth

SAMPLE = {"upload": [[16, 0.2], [256, 3.2]], "stats": [[10_000, 0.05], [100_000, 1.0]]}


def test_the_table_gives_the_cost_per_unit_against_the_first_step():
    rows = growth.table(SAMPLE)
    assert rows[2].endswith("| 1.00 |") and rows[3].endswith("| 1.00 |")  # linear
    assert rows[5].endswith("| 2.00 |")  # ten times the tips, twenty times the time


def test_the_plot_is_svg_with_one_line_per_figure_and_the_linear_guide():
    root = ET.fromstring(growth.svg(SAMPLE))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert len(root.findall(f"{ns}polyline")) == len(SAMPLE)
    labels = {text.text for text in root.findall(f"{ns}text")}
    assert {"upload", "stats", "linear"} <= labels
