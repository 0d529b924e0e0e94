"""Debian's chromium under Playwright: one path, one set of flags and one phone for every browser test."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"   # screenshots a failing test leaves
