"""How WordPress sanitizes what it stores: product names, term names and slugs.

A product name sent through the REST API goes through ``wp_filter_post_kses`` (WooCommerce's
products controller) and then ``title_save_pre`` (trimmed); a category name through
``sanitize_text_field`` and kses' entity normalisation; slugs through ``sanitize_title``. The
rules below follow WordPress 6.8's kses.php and formatting.php, step by step, and were checked
side by side with a real WooCommerce 10.2.4 store (tests/plugins/woocommerce/
test_simulator_sanitize.py holds the cases). Not modelled: the attributes of allowed tags (an
allowed tag is kept without its attributes) and kses' protocol checks inside them.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# wp_kses_allowed_html("post"): the tags a product name may keep.
POST_TAGS = frozenset(
    """address a abbr acronym area article aside audio b bdo big blockquote br button caption
    cite code col colgroup del dd dfn details div dl dt em fieldset figure figcaption font
    footer h1 h2 h3 h4 h5 h6 header hgroup hr i img ins kbd label legend li main map mark menu
    nav object p pre q rb rp rt rtc ruby s samp span section small strike strong sub summary
    sup table tbody td textarea tfoot th thead title tr track tt u ul ol var video""".split()  # noqa: SIM905
)
# $allowedentitynames: the named references kses leaves as they are.
ENTITY_NAMES = frozenset(
    (
        "nbsp",
        "iexcl",
        "cent",
        "pound",
        "curren",
        "yen",
        "brvbar",
        "sect",
        "uml",
        "copy",
        "ordf",
        "laquo",
        "not",
        "shy",
        "reg",
        "macr",
        "deg",
        "plusmn",
        "acute",
        "micro",
        "para",
        "middot",
        "cedil",
        "ordm",
        "raquo",
        "iquest",
        "Agrave",
        "Aacute",
        "Acirc",
        "Atilde",
        "Auml",
        "Aring",
        "AElig",
        "Ccedil",
        "Egrave",
        "Eacute",
        "Ecirc",
        "Euml",
        "Igrave",
        "Iacute",
        "Icirc",
        "Iuml",
        "ETH",
        "Ntilde",
        "Ograve",
        "Oacute",
        "Ocirc",
        "Otilde",
        "Ouml",
        "times",
        "Oslash",
        "Ugrave",
        "Uacute",
        "Ucirc",
        "Uuml",
        "Yacute",
        "THORN",
        "szlig",
        "agrave",
        "aacute",
        "acirc",
        "atilde",
        "auml",
        "aring",
        "aelig",
        "ccedil",
        "egrave",
        "eacute",
        "ecirc",
        "euml",
        "igrave",
        "iacute",
        "icirc",
        "iuml",
        "eth",
        "ntilde",
        "ograve",
        "oacute",
        "ocirc",
        "otilde",
        "ouml",
        "divide",
        "oslash",
        "ugrave",
        "uacute",
        "ucirc",
        "uuml",
        "yacute",
        "thorn",
        "yuml",
        "quot",
        "amp",
        "lt",
        "gt",
        "apos",
        "OElig",
        "oelig",
        "Scaron",
        "scaron",
        "Yuml",
        "circ",
        "tilde",
        "ensp",
        "emsp",
        "thinsp",
        "zwnj",
        "zwj",
        "lrm",
        "rlm",
        "ndash",
        "mdash",
        "lsquo",
        "rsquo",
        "sbquo",
        "ldquo",
        "rdquo",
        "bdquo",
        "dagger",
        "Dagger",
        "permil",
        "lsaquo",
        "rsaquo",
        "euro",
        "fnof",
        "Alpha",
        "Beta",
        "Gamma",
        "Delta",
        "Epsilon",
        "Zeta",
        "Eta",
        "Theta",
        "Iota",
        "Kappa",
        "Lambda",
        "Mu",
        "Nu",
        "Xi",
        "Omicron",
        "Pi",
        "Rho",
        "Sigma",
        "Tau",
        "Upsilon",
        "Phi",
        "Chi",
        "Psi",
        "Omega",
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
        "rho",
        "sigmaf",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "chi",
        "psi",
        "omega",
        "thetasym",
        "upsih",
        "piv",
        "bull",
        "hellip",
        "prime",
        "Prime",
        "oline",
        "frasl",
        "weierp",
        "image",
        "real",
        "trade",
        "alefsym",
        "larr",
        "uarr",
        "rarr",
        "darr",
        "harr",
        "crarr",
        "lArr",
        "uArr",
        "rArr",
        "dArr",
        "hArr",
        "forall",
        "part",
        "exist",
        "empty",
        "nabla",
        "isin",
        "notin",
        "ni",
        "prod",
        "sum",
        "minus",
        "lowast",
        "radic",
        "prop",
        "infin",
        "ang",
        "and",
        "or",
        "cap",
        "cup",
        "int",
        "sim",
        "cong",
        "asymp",
        "ne",
        "equiv",
        "le",
        "ge",
        "sub",
        "sup",
        "nsub",
        "sube",
        "supe",
        "oplus",
        "otimes",
        "perp",
        "sdot",
        "lceil",
        "rceil",
        "lfloor",
        "rfloor",
        "lang",
        "rang",
        "loz",
        "spades",
        "clubs",
        "hearts",
        "diams",
        "sup1",
        "sup2",
        "sup3",
        "frac14",
        "frac12",
        "frac34",
        "there4",
    )
)

_TOKENS = re.compile(r"(<!--.*?(?:-->|$))|(</[^a-zA-Z][^>]*>)|(<![^>]*>)|(<[^>]*(?:>|$)|>)")
_TAG = re.compile(r"^<\s*(/\s*)?([a-zA-Z0-9-]+)([^>]*)>?$")
_BOGUS = re.compile(r"^(?:</[^a-zA-Z][^>]*>|<![a-z][^>]*>)$")
_LESS_THAN = re.compile(r"<[^>]*?(?:(?=<)|>|$)")
_ENTITY_LIKE = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9a-fA-F]+);)")
_SPECIAL_LETTERS = {
    "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "ß": "s", "Œ": "OE", "œ": "oe", "Đ": "D",
    "đ": "d", "Ð": "D", "ð": "d", "Ł": "L", "ł": "l", "Þ": "TH", "þ": "th", "Ħ": "H",
    "ħ": "h", "ı": "i", "Ŋ": "N", "ŋ": "n", "ſ": "s", "Ŧ": "T", "ŧ": "t",
}  # fmt: skip


def _valid_unicode(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def normalize_entities(text: str) -> str:
    """wp_kses_normalize_entities: every "&" escaped, except in known, valid references."""
    text = text.replace("&", "&amp;")

    def named(m: re.Match[str]) -> str:
        return f"&{m[1]};" if m[1] in ENTITY_NAMES else f"&amp;{m[1]};"

    def decimal(m: re.Match[str]) -> str:
        digits = m[1].lstrip("0")
        return f"&#{digits.zfill(3)};" if _valid_unicode(int(m[1])) else f"&amp;#{m[1]};"

    def hexa(m: re.Match[str]) -> str:
        if not _valid_unicode(int(m[1], 16)):
            return f"&amp;#x{m[1]};"
        return f"&#x{m[1].lstrip('0')};"

    text = re.sub(r"&amp;([A-Za-z]{2,8}[0-9]{0,2});", named, text)
    text = re.sub(r"&amp;#(0*[1-9][0-9]{0,6});", decimal, text)
    return re.sub(r"&amp;#[Xx](0*[1-9A-Fa-f][0-9A-Fa-f]{0,5});", hexa, text)


def esc_html(text: str) -> str:
    """esc_html: special characters escaped, references already there left alone."""
    text = _ENTITY_LIKE.sub("&amp;", text)
    return (
        text.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#039;")
    )


def pre_kses_less_than(text: str) -> str:
    """wp_pre_kses_less_than: a "<" that opens no tag (no ">" follows) becomes text."""
    return _LESS_THAN.sub(lambda m: m[0] if ">" in m[0] else esc_html(m[0]), text)


def kses(text: str, allowed: frozenset[str] = POST_TAGS) -> str:
    """wp_kses: tags not allowed are removed (their text stays), a lone ">" is escaped."""
    text = text.replace("\0", "")
    text = normalize_entities(text)
    text = pre_kses_less_than(text)
    return _TOKENS.sub(lambda m: _split2(m[0], allowed), text)


def _split2(token: str, allowed: frozenset[str]) -> str:
    if not token.startswith("<"):
        return "&gt;"
    if _BOGUS.match(token):
        opener, inner = token[1], token[2:-1]
        while (cleaned := kses(inner, allowed)) != inner:
            inner = cleaned
        return f"<{opener}{inner}>"
    if token.startswith("<!--"):
        inner = token.replace("<!--", "").replace("-->", "")
        while (cleaned := kses(inner, allowed)) != inner:
            inner = cleaned
        if not inner:
            return ""
        inner = re.sub(r"-$", "", re.sub(r"--+", "-", inner))
        return f"<!--{inner}-->"
    tag = _TAG.match(token)
    if tag is None or tag[2].lower() not in allowed:
        return ""
    if (tag[1] or "").strip():
        return f"</{tag[2]}>"
    closing = " /" if tag[3].rstrip().endswith("/") else ""
    return f"<{tag[2]}{closing}>"


def product_name(raw: str) -> str:
    """A product name as the store keeps it (wp_filter_post_kses, then trimmed)."""
    return kses(raw).strip()


def strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*(?:>|$)", "", text)


def term_name(raw: str) -> str:
    """A category name as the store keeps it: sanitize_text_field, then kses' entities."""
    text = pre_kses_less_than(raw) if "<" in raw else raw
    text = strip_tags(text)
    text = re.sub(r"[\r\n\t ]+", " ", text).strip()
    return normalize_entities(text)


def remove_accents(text: str) -> str:
    out = []
    for ch in text:
        if ch in _SPECIAL_LETTERS:
            out.append(_SPECIAL_LETTERS[ch])
            continue
        decomposed = unicodedata.normalize("NFD", ch)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        out.append(base if base and base.isascii() and len(decomposed) > 1 else ch)
    return "".join(out)


def sanitize_title(title: str) -> str:
    """sanitize_title in the "save" context: the slug WordPress derives from a name."""
    text = strip_tags(remove_accents(title))
    text = re.sub(r"%([a-fA-F0-9]{2})", r"---\1---", text).replace("%", "")
    text = re.sub(r"---([a-fA-F0-9]{2})---", r"%\1", text)
    # utf8_uri_encode: only bytes beyond ASCII become %xx; control characters go below.
    text = "".join(ch if ord(ch) < 128 else quote(ch).lower() for ch in text.lower())[:200]
    text = text.replace("%c2%a0", "-").replace("%e2%80%93", "-").replace("%e2%80%94", "-")
    for entity in ("&nbsp;", "&#160;", "&ndash;", "&#8211;", "&mdash;", "&#8212;"):
        text = text.replace(entity, "-")
    text = text.replace("/", "-").replace("%c3%97", "x")
    text = re.sub(r"&.+?;", "", text)
    text = text.replace(".", "-")
    text = re.sub(r"[^%a-z0-9 _-]", "", text)
    text = re.sub(r"\s+", "-", text)
    return re.sub(r"-+", "-", text).strip("-")
