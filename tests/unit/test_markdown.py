"""Descriptions render as Markdown and never as live HTML."""
from __future__ import annotations

from plugin.web.markdown import render


def test_markdown_formats():
    html = str(render("# Fraud detector\n\nGradient **boosted** trees.\n\n|metric|value|\n|-|-|\n|auc|0.93|"))
    assert "<h1>Fraud detector</h1>" in html
    assert "<strong>boosted</strong>" in html
    assert "<td>0.93</td>" in html


def test_html_and_dangerous_links_are_neutralised():
    html = str(render('<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) ![i](http://e/i.png)'))
    assert "<script" not in html and "<img" not in html  # shown as text, never as tags
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    link = str(render("[docs](https://example.com/docs)"))
    assert 'href="https://example.com/docs"' in link and "noopener" in link
