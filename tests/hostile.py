"""Hostile text: what a shared recording, a config, a data file or a model could put
where the arena shows text. Each entry, if it were ever interpreted as HTML or
script, pushes its name to ``window.__pwned``; shown as text, it does nothing.

Used by the browser tests (tests/browser/test_hostile_text.py) as agent labels,
parameters, reasoning, error text, symbols, run ids and folder names, and uploaded
file names.
"""

from __future__ import annotations

PWNED = "(window.__pwned=window.__pwned||[]).push"

#: name → text; every markup entry runs script if a view interprets it as HTML
CORPUS = {
    "img": f'<img src=x onerror="{PWNED}(\'img\')">',
    "script": f"<script>{PWNED}('script')</script>",
    "attr": f"\" autofocus onfocus=\"{PWNED}('attr')\" x=\"",
    "svg": f"<svg onload={PWNED}('svg')>",
    "anchor": f'<a href="javascript:{PWNED}(\'anchor\')">go</a>',
    "js_url": f"javascript:{PWNED}('url')",
    "formula": '=HYPERLINK("http://127.0.0.1/","x")',
    "rtl": "\u202etxt.exe \u200fmark",
    "control": "bell\x07 esc\x1b[31m tab\t end",
    "template": "{{7*7}} ${7*7} <%= 7*7 %>",
    "long": "L" * 2000 + "<b>end</b>",
}

#: markup only: the entries whose literal text must be on the page as typed
MARKUP = ("img", "script", "attr", "svg", "anchor", "js_url", "template")

#: one reasoning / error text holding the whole corpus
ALL = " | ".join(CORPUS.values())

#: finds anything the corpus could have injected, in the document and every shadow root
INJECTED_JS = """() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      for (const a of el.attributes) {
        if (a.value.includes('__pwned') && (a.name.startsWith('on') || a.name === 'href'
            || a.name === 'src')) found.push(el.outerHTML.slice(0, 200));
      }
      // a script made of the corpus (not Bokeh's embedded JSON data, which holds it as text)
      if (el.tagName === 'SCRIPT' && el.textContent.trim().startsWith('(window.__pwned'))
        found.push(el.outerHTML.slice(0, 200));
      if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') found.push(el.outerHTML);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
}"""

#: all text on the page, shadow roots included (textContent: hidden text counts too)
TEXT_JS = """() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
    parts.push(root === document ? document.body.textContent : Array.from(root.childNodes)
      .map(n => n.textContent || '').join(' '));
  };
  walk(document);
  return parts.join('\\n');
}"""
