"""Sphinx extension for the book: drop repeated <script>/<link> tags from each page.

Jupyter Book 1.x registers sphinx-thebe's and sphinx-togglebutton's inline configuration scripts twice, so every
page declared `const THEBE_JS_URL` twice and the browser reported "Identifier 'THEBE_JS_URL' has already been
declared". Keeping the first of identical assets fixes the page without changing anything else.
"""


def _key(asset):
    # inline scripts come with filename None or "" depending on who added them: both mean "no file"
    return (getattr(asset, "filename", str(asset)) or "", tuple(sorted(getattr(asset, "attributes", {}).items())))


def _dedupe(app, pagename, templatename, context, doctree):
    for name in ("script_files", "css_files"):
        assets = context.get(name)
        if not assets:
            continue
        seen, unique = set(), []
        for asset in assets:
            key = _key(asset)
            if key not in seen:
                seen.add(key)
                unique.append(asset)
        context[name] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
