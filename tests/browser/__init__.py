"""A real browser (Debian's headless Chromium, driven by Playwright) against ``modelshelf serve``."""
