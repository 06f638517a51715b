"""The untranslated-text checker (chat/i18n_lint.py): clean over every browser module, template
and server string (what ``manage.py check_i18n`` runs: docs/i18n.md), and it does flag
hard-coded text."""
from __future__ import annotations

from chat.i18n_lint import JS_DIR, TEMPLATE_DIR, all_findings, js_findings, template_findings


def test_no_hard_coded_text_anywhere():
    """Every JS module (but the catalogues, wire names and vendored code), every template and
    every server string the checker knows."""
    assert all_findings() == []


def test_the_checker_covers_the_panel_the_widget_and_their_pages():
    covered = {path.relative_to(JS_DIR).as_posix() for path in JS_DIR.rglob("*.js")}
    assert {"panel/main.js", "panel/thread.js", "widget/frame.js", "shared/socket.js"} <= covered
    assert js_findings([JS_DIR / "panel/main.js", JS_DIR / "widget/frame.js"]) == []
    pages = [TEMPLATE_DIR / f"frontend/{name}.html" for name in ("panel", "widget_frame", "login", "reports")]
    assert all(page.exists() for page in pages) and template_findings(pages) == []


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
