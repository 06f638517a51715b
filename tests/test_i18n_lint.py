"""The untranslated-text checker (chat/i18n_lint.py): clean over the browser modules and
templates already converted to the catalogues, and it does flag hard-coded text. After the
panel and widget are converted, ``CONVERTED`` grows to every file (``manage.py check_i18n``
runs it over everything: docs/i18n.md)."""
from __future__ import annotations

from pathlib import Path

from chat.i18n_lint import JS_DIR, TEMPLATE_DIR, js_findings, template_findings

# Files whose every word comes from the catalogues. Add each module and template once converted.
CONVERTED_JS = [JS_DIR / "shared/i18n.js", JS_DIR / "shared/activity.js"]
CONVERTED_TEMPLATES: list[Path] = []
# The operator's pages (panel helper): every panel module, the shared modules, their templates.
CONVERTED_JS += sorted((JS_DIR / "panel").glob("*.js")) + [
    JS_DIR / f"shared/{name}.js" for name in ("dom", "protocol", "socket", "time")]
CONVERTED_TEMPLATES += [TEMPLATE_DIR / f"frontend/{name}.html" for name in ("base", "login", "panel", "settings", "reports")]


def test_converted_files_have_no_hard_coded_text():
    assert all(path.exists() for path in CONVERTED_JS + CONVERTED_TEMPLATES)
    assert js_findings(CONVERTED_JS) + template_findings(CONVERTED_TEMPLATES) == []


def test_the_js_checker_flags_text_and_spares_code(tmp_path):
    module = tmp_path / "sample.js"
    module.write_text("\n".join([
        'el.textContent = "Loading…";',                       # 1 flagged: text property
        'h("button", { title: "unassigned" }, t("x.y"));',    # 2 flagged: title, even lower case
        'toast(`Could not load messages: ${err.code}`);',      # 3 flagged: a sentence
        'h("span", { class: "chip waiting" }, label);',       # 4 code: a class list
        'document.querySelector("#tabs [data-tab]");',        # 5 code: a selector
        'headers: { "X-Widget-Token": token },',              # 6 code: a header name
        'fetch(`/api/v1/conversations/${id}/messages/`);',    # 7 code: a path
        'if (e.key === "Escape") close();',                   # 8 code: a key name
        'h("p", {}, "No custom attributes");',                # 9 flagged
        'console.warn("messenger: identity refused");',       # 10 developer text
        'throw new Error("Not reached");  // i18n-ignore',   # 11 opted out
        '// A comment with "Quoted words" in it',            # 12 comment
    ]))
    lines = sorted({int(f.split(":")[1]) for f in js_findings([module])})
    assert lines == [1, 2, 3, 9]


def test_the_template_checker_flags_text_outside_translation(tmp_path):
    template = tmp_path / "page.html"
    template.write_text("\n".join([
        "<h1>Welcome back</h1>",                                                       # 1 flagged
        '<input placeholder="Type your message…">',                                    # 2 flagged
        '<button data-i18n="common.send">Send</button>',                               # 3 from the catalogue
        '<input data-i18n-attr="placeholder:widget.composer.placeholder" placeholder="Type…">',  # 4
        "{% blocktranslate %}Hello there{% endblocktranslate %}",                      # 5 translated
        "<script>const x = 1;</script>",                                               # 6 not text
        '<a title="Open chat" data-i18n="widget.launcher.open">Open chat</a>',         # 7 title flagged
    ]))
    lines = sorted({int(f.split(":")[1]) for f in template_findings([template])})
    assert lines == [1, 2, 7]
