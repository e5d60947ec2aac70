"""The HTML page shell of the server's own pages (the admin dashboard and the front door),
so both look the same and share one stylesheet."""

from __future__ import annotations

from pathlib import Path

STYLE = Path(__file__).with_name("pages.css").read_text()


def html_page(title: str, body: str, head: str = "") -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<style>{STYLE}</style>{head}</head><body>{body}</body></html>")  # fmt: skip
