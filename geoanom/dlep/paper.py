"""What the DLEP paper reports: its Table III (ACC and MAUC of DLEP and the baselines) and
Table IV (MAUC of DLEP and its ablations) per region, in percent, and its fusion width."""

from __future__ import annotations

#: Columns of the paper's Table III and Table IV.
TABLE3_METHODS = ("2016n", "2018cnn", "2019f", "dlep")
TABLE4_METHODS = ("dlep", "dlep-att", "dlep-dyn")
#: The paper's Indim1 = Indim2 (width of the EF and IF layers).
PAPER_INDIM = 600

#: The paper's Table III (ACC and MAUC, percent) and Table IV (MAUC, percent).
PAPER_TABLE3: dict[str, dict[str, dict[str, float]]] = {
    region: {"acc": dict(zip(TABLE3_METHODS, acc, strict=True)), "mauc": dict(zip(TABLE3_METHODS, auc, strict=True))}
    for region, acc, auc in (
        ("Sichuan", (57.71, 38.41, 52.32, 81.23), (61.00, 51.23, 71.81, 90.07)),
        ("Xinjiang", (32.71, 34.38, 68.76, 77.52), (55.39, 50.87, 74.19, 92.42)),
        ("Qinghai-Tibet", (34.15, 31.85, 62.47, 75.69), (57.33, 49.98, 68.19, 91.41)),
        ("Shandong-Jiangsu", (67.08, 82.03, 54.85, 84.13), (86.64, 50.00, 67.64, 71.55)),
        ("Japan", (52.68, 28.33, 68.16, 79.42), (69.20, 50.10, 73.59, 90.23)),
        ("Philippines", (74.37, 32.45, 71.41, 77.83), (66.42, 50.41, 63.52, 89.46)),
        ("Chicago", (47.42, 40.07, 76.08, 76.36), (56.84, 51.04, 60.23, 85.02)),
        ("Los Angeles", (35.26, 35.48, 56.36, 79.88), (58.68, 50.67, 72.67, 89.81)),
    )}
PAPER_TABLE4: dict[str, dict[str, float]] = {
    region: dict(zip(TABLE4_METHODS, auc, strict=True)) for region, auc in (
        ("Sichuan", (90.07, 77.04, 55.58)), ("Xinjiang", (92.42, 78.86, 60.84)),
        ("Qinghai-Tibet", (91.41, 79.21, 88.07)), ("Shandong-Jiangsu", (71.55, 60.29, 52.79)),
        ("Japan", (90.23, 79.65, 76.87)), ("Philippines", (89.46, 80.63, 78.54)),
        ("Chicago", (85.02, 77.19, 51.27)), ("Los Angeles", (89.81, 80.78, 75.43)))}
