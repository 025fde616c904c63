"""Reading an appcast's XML the way ``SUAppcast.m`` does, into one dictionary per item.

Rules:
- Hostile input is bounded: at most :data:`MAX_APPCAST_BYTES`, no DTD entities (defusedxml), and no
  nesting deeper than libxml2's default limit, which Sparkle's ``NSXMLDocument`` enforces as well.
  Refusing entity declarations is stricter than Sparkle (which expands internal entities).
- Items are the XPath ``/rss/channel/item``: every ``<channel>`` counts, any other root has none.
- Names in the Sparkle namespace read ``sparkle:<local>`` under any prefix; among same-named
  elements the one for the user's language (``xml:lang``) wins, as ``bestNodeInNodes`` picks it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET

from .model import AppcastError

__all__ = ["MAX_APPCAST_BYTES", "SPARKLE_NS", "item_dictionaries"]

SPARKLE_NS = "http://www.andymatuschak.org/xml-namespaces/sparkle"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_APPCAST_BYTES = 4 * 1024 * 1024
# libxml2 (under NSXMLDocument) stops at xmlParserMaxDepth = 256 unless XML_PARSE_HUGE is set.
_MAX_DEPTH = 256
# NSCharacterSet.whitespaceAndNewlineCharacterSet beyond the Z* categories.
_NEWLINES_AND_TABS = frozenset("\t\n\x0b\x0c\r\x85")


def _is_space(ch: str) -> bool:
    return ch in _NEWLINES_AND_TABS or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def _trim(text: str) -> str:
    # stringByTrimmingCharactersInSet:whitespaceAndNewlineCharacterSet (str.strip also eats U+001C-1F).
    start, end = 0, len(text)
    while start < end and _is_space(text[start]):
        start += 1
    while end > start and _is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def _sparkle_name(name: str) -> str:
    # SUAppcast.m sparkleNamespacedNameOfNode: the Sparkle namespace under any prefix is
    # "sparkle:<local>"; a name without a namespace is itself. Another namespace keeps its URI, so
    # it never matches a name Sparkle looks up (there, its own prefix would not match either).
    if name.startswith("{" + SPARKLE_NS + "}"):
        return "sparkle:" + name[len(SPARKLE_NS) + 2 :]
    if name.startswith("{" + _XML_NS + "}"):
        return "xml:" + name[len(_XML_NS) + 2 :]
    return name


def _attributes(element: ET.Element) -> dict[str, str]:
    return {_sparkle_name(key): value for key, value in element.attrib.items()}


def _string_value(element: ET.Element) -> str:
    # NSXMLNode.stringValue of an element: the text of all its descendants, in order.
    return "".join(element.itertext())


def _language_key(language: str) -> str:
    return language.replace("_", "-").lower()


def _best_node(nodes: list[ET.Element], languages: Sequence[str]) -> ET.Element:
    # SUAppcast.m bestNodeInNodes: with several same-named nodes, pick by xml:lang (a node without
    # one counts as "en") through +[NSBundle preferredLocalizationsFromArray:], which matches the
    # user's preferred languages in order, a region variant falling back to its base language.
    if len(nodes) == 1:
        return nodes[0]
    node_languages = [_language_key(node.get("{" + _XML_NS + "}lang") or "en") for node in nodes]
    for preferred in languages:
        key = _language_key(preferred)
        for candidate in (key, key.split("-")[0]):
            if candidate in node_languages:
                return nodes[node_languages.index(candidate)]
    return nodes[0]


def _item_dictionary(item: ET.Element, languages: Sequence[str]) -> dict[str, Any]:
    """The dictionary SUAppcast.m parseAppcastItemsFromXMLData builds for one item."""
    by_name: dict[str, list[ET.Element]] = {}
    for child in item:
        if isinstance(child.tag, str):
            by_name.setdefault(_sparkle_name(child.tag), []).append(child)
    result: dict[str, Any] = {}
    for name, nodes in by_name.items():
        node = _best_node(nodes, languages)
        if name in ("enclosure", "sparkle:criticalUpdate"):
            result[name] = _attributes(node)
        elif name == "pubDate":
            result[name] = _string_value(node)  # kept as text, not trimmed
        elif name == "description":
            description: dict[str, str] = {"content": _string_value(node)}
            if "sparkle:format" in (attributes := _attributes(node)):
                description["format"] = attributes["sparkle:format"]
            result[name] = description
        elif name == "sparkle:deltas":
            result[name] = [_attributes(c) for c in node if c.tag == "enclosure"]
        elif name == "sparkle:tags":
            result[name] = [_sparkle_name(c.tag) for c in node if isinstance(c.tag, str)]
        elif name == "sparkle:informationalUpdate":
            versions: set[str] = set()
            for child in node:
                kind = _sparkle_name(child.tag) if isinstance(child.tag, str) else ""
                if kind == "sparkle:version":
                    versions.add(_string_value(child))
                elif kind == "sparkle:belowVersion":
                    versions.add("<" + _string_value(child))  # '<' marks an upper bound
            result[name] = frozenset(versions)
        else:
            result[name] = _trim(_string_value(node))
    return result


def _too_deep(root: ET.Element) -> bool:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def item_dictionaries(data: bytes, languages: Sequence[str]) -> list[dict[str, Any]]:
    """The dictionary of every item in document order; raise :class:`AppcastError` on hostile XML."""
    if len(data) > MAX_APPCAST_BYTES:
        raise AppcastError(f"appcast is {len(data)} bytes, more than the {MAX_APPCAST_BYTES} read")
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:  # defusedxml raises ParseError or its own DefusedXmlException family
        raise AppcastError(f"appcast is not safe, well-formed XML: {str(exc)[:120]}") from exc
    if _too_deep(root):
        raise AppcastError(f"appcast nests elements deeper than {_MAX_DEPTH} levels")
    # SUAppcast.m: XPath /rss/channel/item, so every <channel> counts and any other root has no
    # items (an empty feed, not an error).
    channels = root.findall("channel") if root.tag == "rss" else []
    elements = [item for channel in channels for item in channel.findall("item")]
    return [_item_dictionary(element, languages) for element in elements]
