"""Evidence from text: read articles and posts, link each claim to its sites, date and numbers.

Analysts copy claims from news articles, OSINT posts and official statements into the
evidence ledger by hand. This module does it by rules (no model): it reads plain text,
Markdown or HTML, finds the text's own metadata anywhere in its first lines (a ``date
2023-11-12`` header, also inline before the first sentence, ``Original url:`` lines,
by-lines, HTML metadata, a dateline such as ``TARTUS, Syria, Dec 5 (Reuters) -``), splits
the body into sections (a heading such as "🇷🇺 Khmeimim Air Base" gives its site to the
lines below it), sentences and embedded posts (each with its own date), keeps the
sentences that name a watched site (by its name or one of its ``aliases``) and say
something about it, and resolves in each the day it states ("imagery from 3 December",
"on Tuesday") apart from the day it only estimates ("likely on 2 December", "probably on
the 9th"), and the numbers of things in it ("4x vessels (2x corvette | 1x landing ship)",
"only 5 aircraft visible"). A text without a date of its own still gives its claims, with
an unknown publication date and a warning. The source URL comes only from the text's own
metadata, never from a link quoted in it.

Date expressions are found by pattern and parsed by ``dateparser`` against the text's date.
Background sentences (history, or no observation, number, date or quote) are not filed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from basewatch.context.evidence import KINDS as EVIDENCE_KINDS
from basewatch.context.evidence import EvidenceEntry, parse_grade
from basewatch.errors import InputError
from basewatch.sites import Registry

__all__ = [
    "Document",
    "Extraction",
    "FileProblem",
    "Quantity",
    "TextClaim",
    "decode_text",
    "extract_files",
    "extract_text",
    "find_quantities",
    "ledger_entries",
    "parse_document",
    "published_date",
    "resolve_event_date",
    "resolve_event_dates",
    "site_matcher",
    "split_sentences",
    "undated",
]

KINDS = ("article", "post", "official")
"""Kinds of text claims (a subset of :data:`basewatch.context.evidence.KINDS`)."""
assert set(KINDS) <= set(EVIDENCE_KINDS)

# ----------------------------------------------------------------------------- vocabulary

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_ORD = r"(?:st|nd|rd|th)"
_WORD_NUMBERS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "a dozen": 12,
    "a pair of": 2,
    "a couple of": 2,
    "a single": 1,
}
_YEAR_END = r"\d{4}(?:\b|(?=\d{1,2}:\d{2}))"
"""A year, also glued to a time as pasted from news sites ("December 16, 20246:07 PM")."""
_FULL_DATE = (
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b"
    rf"|\b\d{{1,2}}{_ORD}?\s+(?:of\s+)?{_MONTH}\.?,?\s+{_YEAR_END}"
    rf"|\b{_MONTH}\.?\s+\d{{1,2}}{_ORD}?,?\s+{_YEAR_END}"
    r"|\b\d{1,2}\.\d{1,2}\.\d{4}\b"
)
_DAY_RANGE = re.compile(
    rf"\b(?P<first>\d{{1,2}}){_ORD}?\s*(?:-|\u2013|\u2014|to|and|until|till|through)\s*"
    rf"\d{{1,2}}{_ORD}?\s+(?:of\s+)?(?P<month>{_MONTH})\b\.?(?P<year>,?\s+{_YEAR_END})?",
    re.IGNORECASE,
)
"""Days of one month written day first with the month once ("10-12 December", "between 10
and 12 December 2024"): the range's first day is the date it states."""
_DATE_EXPRESSIONS = re.compile(
    "|".join(
        [
            _DAY_RANGE.pattern,
            _FULL_DATE,
            r"\b\d{1,2}/\d{1,2}/\d{4}\b",
            rf"\b\d{{1,2}}{_ORD}?\s+(?:of\s+)?{_MONTH}\b\.?",
            rf"\b{_MONTH}\.?\s+\d{{1,2}}{_ORD}?\b(?![:\d])",
            rf"\b(?:on|by|from|since|until|till|before|after)\s+the\s+\d{{1,2}}{_ORD}\b",
            rf"\b{_WEEKDAY}\b",
            r"\b(?:yesterday|today|tonight|last night|this (?:morning|afternoon|evening))\b",
            r"\b(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\s+days?\s+ago\b",
        ]
    ),
    re.IGNORECASE,
)
_DATE_SETTINGS: dict[str, Any] = {"PREFER_DATES_FROM": "past", "DATE_ORDER": "DMY"}
_YEAR = re.compile(r"(?<![\w-])(1[89]\d\d|20\d\d)(?![\w-])")

_OBJECTS = {
    "aircraft", "jet", "fighter", "bomber", "helicopter", "helo", "plane", "airplane",
    "airliner", "transport", "airlifter", "freighter", "tanker", "drone", "uav", "vessel",
    "ship", "warship", "boat", "corvette", "frigate", "destroyer", "cruiser", "submarine",
    "sub", "tug", "minesweeper", "auxiliary", "carrier", "launcher", "tel", "radar",
    "vehicle", "truck", "lorry", "tank", "apc", "ifv", "system", "battery", "howitzer",
    "container", "convoy", "flight", "sortie", "hangar", "shelter", "tent", "troop",
    "soldier", "personnel", "crane", "barge", "trawler", "ferry", "airframe", "gunship",
    "dock", "escort", "interceptor", "craft",
}  # fmt: skip
"""Head nouns (singular) that make ``<number> <noun>`` a quantity."""
_DESIGNATOR = re.compile(r"^(?:[A-Z][A-Za-z]{0,3}-\d{1,3}[A-Z0-9]*|[A-Z]{1,3}\d{2,3}[A-Z]?)s?$")
"""Type designators: Il-76, An-124, Su-24M, S-400, MiG-29, Ka-52, C17."""
_NOT_MODIFIER = {
    "at", "on", "in", "of", "and", "or", "to", "from", "were", "was", "are", "is", "be",
    "been", "have", "had", "has", "left", "remain", "remained", "with", "by",
    "near", "the", "a", "an", "that", "which", "who", "still", "now", "seen",
    "spotted", "visible", "this", "these", "those", "for", "as", "while",
    "but", "per", "each", "more", "than", "so", "after", "before", "since", "days", "day",
    "hours", "km", "miles", "years", "year", "weeks", "months", "percent", "times", "it",
    "they", "there", "here", "could", "would", "will", "can", "may", "might", "not", "no",
    "show", "shows", "showed", "shown", "captured", "taken", "said", "says", "about", "over",
}  # fmt: skip
_NUMBER = re.compile(
    r"(?<![\w.,/-])(?P<num>\d{1,3}(?:,\d{3})*|"
    + "|".join(sorted((re.escape(w) for w in _WORD_NUMBERS), key=len, reverse=True))
    + r")(?P<x>\s*[x×])?(?![\w-])(?!\.\d|,\d)",
    re.IGNORECASE,
)
_SHARE_OF = re.compile(
    r"(?<![\w.,/-])(?P<n>\d{1,3}|"
    + "|".join(re.escape(w) for w in _WORD_NUMBERS if " " not in w)
    + r")\s+of\s+(?:the|its|their|those|these)\s+$",
    re.IGNORECASE,
)
"""A part before a whole ("two of the four frigates"): the part is the count."""
_ONE_DESIGNATED = re.compile(
    r"(?<![\w-])(?:[Aa]n?|[Oo]ne single|[Aa] lone)\s+(?=[A-Z][A-Za-z]{0,3}-\d)"
)
"""``a``/``an`` before a type designator ("an An-124", "a Su-24M"): a count of one."""
_NOT_THE_THING = re.compile(
    r"\S+\s+(?:\s*[x×]\s*\d|(?:pilots?|crews?|squadrons?|regiments?|units?|engines?|parts?|"
    r"program(?:me)?s?|contracts?|deals?|orders?|variants?|versions?|fleets?|models?|replicas?|"
    r"mock-?ups?|crash(?:es)?|wrecks?|wreckage|type|class)\b)",
    re.IGNORECASE,
)
"""After "a <designator>": something else than one of them ("a MiG-29 pilot", "an Il-76
x3")."""
_NEGATED = re.compile(r"(?<![\w-])no\s+(?=[A-Za-z])", re.IGNORECASE)
"""``no`` before a thing ("no aircraft were visible", "No warships remain"): a count of 0."""
_POSTFIX = re.compile(r"(?<![\w-])(?P<what>[A-Za-z][\w-]*)\s*[x×]\s*(?P<num>\d{1,3})(?![\w-])")
_TOKEN = re.compile(r"\s*([A-Za-z][\w/-]*(?:'s)?)")

_EVENT_CUES = re.compile(
    r"\b(?:show(?:s|ed|ing|n)?|seen|spotted|observ\w*|visible|imag(?:e|es|ery)|photo\w*|"
    r"satellite|left|leav\w*|depart\w*|arriv\w*|withdr[ae]w\w*|pull(?:s|ed|ing)? (?:out|back)|"
    r"evacuat\w*|load\w*|unload\w*|moor\w*|dock\w*|berth\w*|anchor\w*|sail\w*|remain\w*|"
    r"present|absent|empty|emptied|deploy\w*|redeploy\w*|relocat\w*|dismantl\w*|pack\w*|"
    r"mov(?:e|ed|es|ing)|convoy\w*|flights?|flew|land(?:ed|ing)|took off|parked|gone|"
    r"no longer|reduc\w*|increas\w*|build-?up|reinforc\w*|struck|strike\w*|attack\w*|"
    r"drones?|exercise\w*|abandon\w*|vacat\w*|return\w*|count\w*|disappear\w*)\b",
    re.IGNORECASE,
)
_OFFICIAL_NOUN = re.compile(
    r"\b(?:(?i:minist(?:er|ry|ries)|spokes(?:man|woman|person)|officials?|Kremlin|diplomats?|"
    r"ambassador|government|Peskov|Lavrov|Zakharova|Putin|Pentagon|commander|president|"
    r"authorities|State Department|Foreign Office)|MoD|Gen(?:eral)?\.? [A-Z]\w+)\b"
)
_SPEECH = re.compile(
    r"\b(?:said|says|say|told|stated|states|announced|declared|confirmed|denied|quoted|"
    r"insisted|claimed|according to|statement)\b",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(r"\b(?:would|could|might)\b", re.IGNORECASE)
_POST_CUES = re.compile(
    r"\b(?:posted|tweeted|wrote on|in a post|on X|on Telegram|Telegram channel|on Twitter)\b"
)
_HISTORY = re.compile(
    r"\b(?:founded|established|built in|constructed|leased?|lease agreement|Soviet|"
    r"for decades|dating back|historically|originally|history)\b",
    re.IGNORECASE,
)
_POST_HOSTS = (
    "x.com", "twitter.com", "t.me", "telegram.me", "bsky.app", "facebook.com",
    "instagram.com", "threads.net", "vk.com", "reddit.com", "mastodon",
)  # fmt: skip
_HEADER = re.compile(
    r"^\s*(?P<key>original[ _-]?url|source[ _-]?url|url|link|canonical|date|published|"
    r"posted|source|outlet|publisher|author|by|title|kind|type|encoding|charset)"
    r"\s*[:=]?\s+(?P<value>\S.*?)\s*$",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^(?:[-*+•]|\d+[.)])\s+")
_DATED_ITEM = re.compile(
    rf"^(?:[-*+•]|\d+[.)])\s+(?:\d{{1,2}}{_ORD}?\s+{_MONTH}\.?|{_MONTH}\.?\s+\d{{1,2}}{_ORD}?"
    rf"|\d{{4}}-\d{{2}}-\d{{2}})(?:,?\s+\d{{4}})?\s*[:–—]",
    re.IGNORECASE,
)
"""A list item that opens with its own day ("- 2 Dec: 3 frigates at the piers"): a dated log."""
_ORIGINAL_URL = re.compile(
    r"^(?:[^:]{0,40}[.;]\s+)?original(?:[ _-]?(?:url|link|post))?\s*[:=]\s*<?(https?://[^\s>]+)>?$",
    re.I,
)
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_HANDLE = re.compile(r"@[A-Za-z0-9_]{1,30}")
_DATELINE = re.compile(
    rf"^(?P<place>[A-Z][A-Z.'’ /-]{{2,40}}(?:,\s*[A-Z][A-Za-z.' -]{{1,30}})?)\s*,?\s*"
    rf"(?P<date>{_MONTH}\.?\s+\d{{1,2}}(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}\.?(?:\s+\d{{4}})?)?"
    r"\s*(?:\((?P<agency>[A-Za-z .]{2,30})\))?\s*[-–—]+\s+"
)
_ATTRIBUTION = re.compile(r"^\s*(?:[-–—]{1,2}|&mdash;|~)\s*(?P<rest>\S.*)$")
_UPDATE = re.compile(
    rf"^\W*(?:update[ds]?|updating|editor'?s note)\s*[,(:–—-]?\s*(?:on\s+)?"
    rf"(?P<date>{_MONTH}\.?\s+\d{{1,2}}{_ORD}?(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}{_ORD}?\s+{_MONTH}\.?(?:,?\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}})"
    r"(?:[,\s]+\d{1,2}[:.]\d{2}\s*(?:[AP]M|GMT|UTC)?)?\)?\s*[:.–—-]\s*",
    re.IGNORECASE,
)
"""An update's lead ("Update, Dec 14:", "UPDATE (14 December):"): the day the paragraph's
relative dates are read against."""
_CREDIT = re.compile(
    r"©|\(c\)\s*\d{4}|\b(?:image|photo|picture|imagery)\s+(?:credit|courtesy)\b|"
    r"\bcourtesy of\b|\bcredit:",
    re.IGNORECASE,
)
"""A picture credit ("Satellite image © 2024 Maxar Technologies, taken Dec. 13, 2024"): not a
claim itself; its date is the day of the picture its caption describes."""
_HEDGE = re.compile(
    r"\b(?:likely|probably|possibly|presumably|apparently|reportedly|perhaps|maybe|"
    r"around|about|approximately|roughly|circa|some ?time|believed|thought|estimated|"
    r"expected|may have|might have|could have|seems?|appears?)\b"
    r"(?:\W+(?:on|in|the|of|or|at|by|to|have|has|been|be|left|sailed|departed|occurred|"
    r"happened|taken|some|time|sometime|around|about|between|from)){0,4}\W*$",
    re.IGNORECASE,
)
"""A hedge just before a date ("likely on", "probably sometime around", "on or about")."""
_HEDGE_AFTER = re.compile(r"^\W*(?:or so|give or take|at the latest|at the earliest)\b", re.I)
_CLAUSE_END = re.compile(r"[,;:()\[\]—–]|\.\s")
_INLINE_DATE = re.compile(
    r"^\s*[*_]*\s*(?:date|published|posted|updated)(?:[ _-]?(?:time|date|at))?(?:\s+on)?\s*[:=]?\s*"
    rf"(?P<date>\d{{4}}-\d{{2}}-\d{{2}}(?=T\d)|{_FULL_DATE})"
    r"(?:[\sT]+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[AP]M|Z|UTC|GMT)(?:[+-]\d{1,2})?)?)?"
    r"[\s,;|·.–—*_-]*(?P<rest>.*)$",
    re.IGNORECASE,
)
"""A date line, possibly with the first sentence after it: ``date 2024-12-05 The navy...``
(also in Markdown emphasis: ``*Published December 10, 2024*``)."""
_ISO_LEAD = re.compile(
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?"
    r"\s*[-–—|:·]?\s+(?P<rest>\S.*)$"
)
"""A line opening with an ISO date: ``2024-12-05 — The navy...``."""
_BYLINE = re.compile(
    r"^\s*(?i:(?P<thread>(?:a\s+|🧵\s*)?thread\s+)?by)\s+"
    r"(?P<who>@\w{1,30}|(?!(?:The|A|An|On|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
    r"Sunday|January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b)[A-Z][\w.'’-]*(?:\s+(?:[A-Z][\w.'’-]*|de|van|von|al-\w+)){0,3})"
    r"(?P<tail>.*)$"
)
"""A by-line: ``By Jane Example``, ``Thread by @spotter · Dec 6, 2024``."""
_BYLINE_TAIL = re.compile(
    rf"^\s*(?:[,·|•—–-]\s*|\s)?(?:(?:on\s+)?(?:{_FULL_DATE}).*|\d{{1,2}}:\d{{2}}.*|"
    r"(?:and|in|for|at)\s+[A-Z@][\w@ .'-]*|\([^)]*\)|(?:@\w+)?)\s*$",
    re.IGNORECASE,
)
_URL_LINE = re.compile(
    r"^\s*(?:original|source|canonical)?[ _-]?(?:url|link)(?:[ _-]?source)?\s*[:=]\s*"
    r"<?(https?://[^\s>]+)>?\s*$",
    re.IGNORECASE,
)
_PERMALINK = re.compile(
    r"https?://(?:www\.|mobile\.)?(?:(?:x|twitter)\.com/\w+/status/\d+|t\.me/\w+/\d+|"
    r"bsky\.app/profile/[^/\s]+/post/\w+|(?:facebook|instagram|threads)\.(?:com|net)/\S+/"
    r"(?:posts?|p)/\S+|vk\.com/wall[-\d_]+|\S*mastodon\S*/@\w+/\d+)\S*",
    re.IGNORECASE,
)
"""Links that are a post's own address (a status, a channel message), not a shortened link."""
_THREAD_MARK = re.compile(r"^\s*\d{1,2}\s?/\s?(?:\d{1,2})?(?=\s)\s*")
"""A thread counter at the start of a line ("1/", "2/7")."""
_TERMINAL = (".", "!", "?", ":", ";", ",", '"', "”", "’", "'", ")")
_SECTION_END = re.compile(
    r"^\W*(?:related(?: (?:stories|articles|posts|coverage|content|reading|topics))?|"
    r"more on this(?: story| topic)?|more (?:from|stories|in|on) [\w ]{1,30}|read (?:more|next)|"
    r"you (?:may|might) also (?:like|be interested in)|recommended(?: for you)?|"
    r"most (?:read|viewed|popular|shared)|share this(?: (?:article|story|post|page))?|like this|"
    r"tags|topics|filed under|comments?|leave a (?:reply|comment)|notes|references|endnotes|"
    r"footnotes|sources|bibliography|about the authors?)\s*:?\W*$",
    re.IGNORECASE,
)
"""A page's furniture heading ("Related", "More on this story", "Share this:", "Notes"): the
blocks after it, up to the next real heading, are links, buttons or references, not text."""
_BOILERPLATE_LINE = re.compile(
    r"^\W*(?:read (?:more|next|also)|also read|related(?: (?:stories|articles|coverage|content))?|"
    r"see also|more on this(?: story)?|watch|listen|recommended)\s*[:|–—]"
    r"|^\W*(?:subscribe|follow us|join us|support us|donate|sign up|share this)\b"
    r"|^\s*(?:#[^\W_][\w-]*[\s,]*)+$"
    r"|^\s*(?:·|[\d.,]+\s*[KM]?(?:\s+(?:views?|reposts?|quotes?|likes?|bookmarks?|replies))?)\s*$",
    re.IGNORECASE,
)
"""A line that is not text: a link to another story ("READ MORE: ...", "Read Next: ..."), a
subscribe or share prompt, a line of hashtags, a post's view and like counts."""
_FOOTNOTE_MARK = re.compile(r"(?<=[\w.,;:!?\"'”’)])(?:\[\d{1,3}\]|\^\d{1,3}\b)")
"""A footnote marker after a word or sentence ("in Libya.[1]", "parked^2")."""
_PLACE_NOT_BASE = re.compile(
    r"^[\s-]+(?:city|province|governorate|countryside|district)\b", re.IGNORECASE
)
_PLACE_NOT_BASE_BEFORE = re.compile(
    r"\b(?:province|governorate|countryside|district) of\s+$", re.IGNORECASE
)
"""A site's name used for the town or province around it ("Tartus city", "Tartus
province", "the governorate of Tartus"): not the site."""
_FOOTNOTE_SUP = re.compile(r"^\s*(?:[\[(]?\d{1,3}[\])]?|[*†‡]+)\s*$")
"""The text of an HTML ``<sup>`` that is a footnote marker ("2", "[3]", "*"), left out of the
text so that it neither joins the next sentence ("Hmeimim.2 On ...") nor a designator before
it ("Ka-52" + "3"); an ordinal's "th" is kept (the "2" of "km<sup>2</sup>" goes too)."""
_BACK_REFERENCE = re.compile(
    r"\b[Tt]he\s+(?:(?:[a-z]+|Russian)\s+)??(?:"
    r"(?P<air>(?i:air\s*base|airfield|airport|air\s+station|apron))"
    r"|(?P<sea>(?i:naval\s+(?:base|facility|station)|port|harbou?r|piers?))"
    r"|(?i:base|facility|installation|garrison|(?:satellite\s+)?(?:images|imagery|pictures)))\b"
    r"(?!\s+(?:of|city|town)\b|\s+(?:in|at|near)\s+[A-Z])"
    r"|\b(?i:moored|docked|berthed|anchored|parked|seen|spotted|observed|based|stationed|"
    r"deployed|remained|remain|stayed|arrived|landed|present|visible|left)\s+(?:\w+\s+)?there\b"
)
"""A sentence's back-reference to a site named before it ("the base", "the airfield", "the
port", "the images" of it, "moored there"), not a place named right after ("the port of
Latakia", "the airport at Qamishli") nor a part of something ("the base of the tower"); an
existential "there were" is no place."""
_ELSEWHERE = re.compile(
    rf"\b(?:in|at|near|to|into|outside|off)\s+(?:the\s+)?(?:[a-z]+\s+)?(?:[a-z]+-)?"
    rf"(?!{_MONTH}\b|{_WEEKDAY}\b)[A-Z][a-z]"
)
"""A place the sentence names ("at al-Khadim", "in eastern Libya", "near Idlib"): its "the
base" may be that place's, so the sentence is given no site by back-reference."""
_REFERENCE_KINDS = {"air": ("airbase",), "sea": ("naval_base",)}
"""Site kinds an "air" or "sea" back-reference can point to (a plain "the base": any)."""
_HANDLE_LINE = re.compile(r"^@\w{1,30}$")
"""A post's handle alone on a line, as copied from an X or Bluesky page."""
_STAMP_LINE = re.compile(
    rf"^\d{{1,2}}:\d{{2}}\s*(?:[AP]M)?\s*[·•|-]\s*(?P<date>{_FULL_DATE})"
    r"(?:\s*[·•|-].*)?$",
    re.IGNORECASE,
)
"""A post's time stamp as copied from an X page: ``10:41 AM · Dec 13, 2024``."""
_TELEGRAM_HEAD = re.compile(
    r"^(?P<who>[^\[\]\n]{1,60}?),\s*\[(?P<date>\d{1,2}[./]\d{1,2}[./]\d{2,4})"
    r"(?:,?\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AP]M)?)?\]\s*$",
    re.IGNORECASE,
)
"""A message's head as Telegram Desktop copies it: ``Rybar in English, [15.12.2024 09:41]``."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class Quantity:
    """A number of things named in a claim."""

    count: int
    """How many."""
    what: str
    """What, as written ("jets", "Il-76", "landing ship")."""


@dataclass(frozen=True, kw_only=True)
class TextClaim:
    """One claim about one site, read from a text."""

    site_id: str
    """Site the claim names."""
    claim: str
    """The sentence or post as written (whitespace normalised)."""
    published: date | None
    """The text's own date (or the embedded post's); None when the text gives none."""
    event_date: date | None
    """The day of the observation or event the claim states (the picture's day: "imagery
    from 3 December"); for a post that states no day, the post's date; when the text only
    hedges a day, that day; None otherwise."""
    quantities: tuple[Quantity, ...]
    """Numbers of things in the claim."""
    source_url: str
    """Where to read it ('' when the text gives no URL)."""
    source: str
    """Outlet, account or file the claim comes from."""
    kind: str
    """``article``, ``post`` or ``official``."""
    file: str = ""
    """The file it was read from."""
    event_date_estimate: date | None = None
    """The day the text estimates for the event with a hedge ("likely on 2 December",
    "probably on the 9th", "around 1 Dec"); None when it hedges none."""

    def record(self) -> dict[str, Any]:
        """JSON-ready dict (dates ISO, quantities as ``{"count", "what"}``)."""
        return {
            "site_id": self.site_id,
            "claim": self.claim,
            "published": self.published.isoformat() if self.published else None,
            "event_date": self.event_date.isoformat() if self.event_date else None,
            "event_date_estimate": (
                self.event_date_estimate.isoformat() if self.event_date_estimate else None
            ),
            "quantities": [{"count": q.count, "what": q.what} for q in self.quantities],
            "source_url": self.source_url,
            "source": self.source,
            "kind": self.kind,
            "file": self.file,
        }


@dataclass(frozen=True, kw_only=True)
class FileProblem:
    """A file that could not be read as a dated text."""

    file: str
    """The file."""
    message: str
    """What is wrong and how to fix it."""


@dataclass(frozen=True, kw_only=True)
class Extraction:
    """Claims from several files, the files that could not be read, and warnings."""

    claims: tuple[TextClaim, ...]
    """All claims, file by file, in text order."""
    problems: tuple[FileProblem, ...]
    """One entry per unreadable file."""
    warnings: tuple[FileProblem, ...] = ()
    """Files read with a caveat (no publication date found): their claims are kept."""


@dataclass(frozen=True, kw_only=True)
class Block:
    """A paragraph of a text, or an embedded post with its own attribution."""

    text: str
    """The paragraph or the post's text."""
    post: bool = False
    """An embedded post (blockquote) rather than the text's own words."""
    heading: bool = False
    """A title or heading (not filed)."""
    label: bool = False
    """A short section label line in plain text ("🇷🇺 Khmeimim Air Base")."""
    author: str = ""
    """The embedded post's author (handle) when given."""
    date_text: str = ""
    """The embedded post's date as written, when given."""
    url: str = ""
    """The embedded post's link, when given."""
    logged: bool = False
    """An item of a dated log under its lead-in ("Seen at Tartus:" then "- 2 Dec: 3 frigates"):
    it is about the site its lead-in named alone."""


@dataclass(frozen=True, kw_only=True)
class Document:
    """A text split into blocks, with what its header says."""

    blocks: tuple[Block, ...]
    """Paragraphs and embedded posts in order."""
    meta: dict[str, str] = field(default_factory=dict)
    """Header values (lowercase keys: date, url, source, author, kind, title)."""
    links: tuple[str, ...] = ()
    """Links in text order."""


# ----------------------------------------------------------------------------- decoding

_MAGIC = {
    b"%PDF": "a PDF; convert it to text first (e.g. pdftotext)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a ZIP archive (or a .docx); save the article as text or HTML",
    b"\x1f\x8b": "gzip-compressed; decompress it first",
}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_DECLARED = re.compile(
    rb"""(?:charset\s*=\s*["']?|encoding\s*[:=]\s*["']?)([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)


def decode_text(data: bytes, *, name: str) -> str:
    """Decode a text file's bytes; raise :class:`InputError` naming ``name`` when it is not text.

    UTF-8 (with or without BOM) and UTF-16/32 with a BOM are read as such; other
    encodings must be declared (``<meta charset=...>`` or an ``encoding:`` header line).
    Empty files, binary files and undeclared or unknown encodings are refused.
    """
    if not data.strip():
        raise InputError(f"{name}: the file is empty; give an article or post as text or HTML")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise InputError(f"{name}: binary file ({what}); give the article as text or HTML")
    head = data[:4096]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) // 20:
        raise InputError(
            f"{name}: binary file ({controls} control bytes in the first {len(head)}); "
            "give the article as text, Markdown or HTML"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    declared = _DECLARED.search(data[:2048])
    if declared is None:
        raise InputError(
            f"{name}: not UTF-8 (byte 0x{data[bad]:02x} at offset {bad}) and no encoding is "
            "declared; convert it (iconv -f WINDOWS-1252 -t UTF-8) or declare it with "
            "<meta charset=...> or an 'encoding: NAME' line"
        )
    codec = declared.group(1).decode("ascii", "replace")
    try:
        return data.decode(codec)
    except LookupError as exc:
        raise InputError(
            f"{name}: declares the unknown encoding {codec!r}; convert the file to UTF-8"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: does not decode as its declared encoding {codec!r} ({exc.reason} at "
            f"offset {exc.start}); fix the declaration or convert the file to UTF-8"
        ) from exc


# ----------------------------------------------------------------------------- documents


def _clean(text: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(text.split())


class _HTMLReader(HTMLParser):
    """Collect blocks, metadata and links from an HTML page (stdlib parser).

    Scripts, navigation, footers, asides and boxes whose class or id says "related",
    "comments", "newsletter"... are skipped; when the page has an ``<article>`` or
    ``<main>`` element, only the blocks inside it are kept.
    """

    _BLOCK = {
        "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr",
        "section", "article", "main", "figcaption", "header", "table", "dd", "dt", "pre", "hr",
    }  # fmt: skip
    _SKIP = {
        "script", "style", "noscript", "template", "svg", "nav", "footer", "form", "button",
        "aside", "iframe", "select",
    }  # fmt: skip
    _VOID = {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    }  # fmt: skip
    _BOILERPLATE = re.compile(
        r"related|recommend|newsletter|promo|share|social-links|comment|sidebar|menu|"
        r"breadcrumb|subscribe|advert|most-read|trending|read-more|more-stories|more-on|"
        r"cookie|consent|ticker|tags\b|topics",
        re.IGNORECASE,
    )
    _META_DATE = {
        "article:published_time", "og:published_time", "date", "pubdate", "publishdate",
        "dc.date", "dc.date.issued", "datepublished", "parsely-pub-date", "sailthru.date",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[Block, bool]] = []
        self.meta: dict[str, str] = {}
        self.links: list[str] = []
        self._buf: list[str] = []
        self._heading = False
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, skipped, inside <article>)
        self._quote: list[list[str]] | None = None
        self._quote_links: list[str] = []
        self._title: list[str] | None = None
        self._ld = False
        self._sup: int | None = None  # where a <sup> began in the text buffer

    @property
    def _skipping(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    @property
    def _in_article(self) -> bool:
        return bool(self._stack) and self._stack[-1][2]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "script" and "ld+json" in a.get("type", ""):
            self._ld = True
        if tag == "meta":
            self._meta(a)
        elif tag == "link" and a.get("rel", "").lower() == "canonical" and a.get("href"):
            self.meta.setdefault("url", a["href"])
        if tag not in self._VOID:
            boxed = bool(self._BOILERPLATE.search(f"{a.get('class', '')} {a.get('id', '')}"))
            skip = self._skipping or tag in self._SKIP or boxed
            if tag in self._BLOCK or tag in ("blockquote", "title") or skip != self._skipping:
                self._flush()
            self._stack.append((tag, skip, self._in_article or tag in ("article", "main")))
        if self._skipping:
            return
        if tag == "title":
            self._title = []
        elif tag == "time" and a.get("datetime"):
            self.meta.setdefault("time", a["datetime"])
        elif tag == "a" and a.get("href", "").lower().startswith(("http://", "https://")):
            (self._quote_links if self._quote is not None else self.links).append(a["href"])
        elif tag == "blockquote":
            self._quote = []
            self._quote_links = []
        elif tag == "sup":
            self._sup = len(self._buf)
        elif tag in self._BLOCK:
            self._flush()
            self._heading = tag in ("h1", "h2", "h3", "h4", "h5", "h6")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._ld = False
        if tag in self._VOID or not any(t == tag for t, _, _ in self._stack):
            return
        skipped = self._skipping
        if tag == "sup" and self._sup is not None:
            if _FOOTNOTE_SUP.match("".join(self._buf[self._sup :])):  # "Hmeimim.<sup>2</sup>"
                del self._buf[self._sup :]
            self._sup = None
        if not skipped and (tag in self._BLOCK or tag == "blockquote"):
            self._flush()
        if tag == "title" and self._title is not None:
            self.meta.setdefault("title", _clean("".join(self._title)))
            self._title = None
        elif tag == "blockquote" and self._quote is not None and not skipped:
            lines, links = self._quote, self._quote_links
            self._quote = None
            self.blocks.append((_post_block([" ".join(x) for x in lines], links), self._in_article))
        while self._stack:
            if self._stack.pop()[0] == tag:
                break
        if skipped and not self._skipping:
            self._buf = []

    def handle_data(self, data: str) -> None:
        if self._ld:
            found = re.search(r'"datePublished"\s*:\s*"([^"]+)"', data)
            if found:
                self.meta.setdefault("jsonld", found.group(1))
            return
        if self._title is not None:
            self._title.append(data)
            return
        if not self._skipping:
            self._buf.append(data)

    def _meta(self, a: dict[str, str]) -> None:
        key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
        content = a.get("content", "").strip()
        if not content:
            return
        if key in self._META_DATE:
            self.meta.setdefault("date", content)
        elif key in ("og:url", "twitter:url"):
            self.meta.setdefault("url", content)
        elif key in ("og:site_name", "publisher"):
            self.meta.setdefault("source", content)
        elif key == "author":
            self.meta.setdefault("author", content)
        elif key == "og:type" and content.lower() in ("post", "social"):
            self.meta.setdefault("kind", "post")

    def _flush(self) -> None:
        text = _clean(_FOOTNOTE_MARK.sub("", "".join(self._buf)))
        self._buf = []
        if not text or self._skipping:
            return
        if self._quote is not None:
            self._quote.append([text])
        else:
            self.blocks.append((Block(text=text, heading=self._heading), self._in_article))
        self._heading = False

    def document(self) -> Document:
        """The page read so far (only the ``<article>``/``<main>`` blocks when it has one)."""
        self._flush()
        inside = [b for b, in_article in self.blocks if in_article]
        blocks = inside or [b for b, _ in self.blocks]
        return Document(blocks=tuple(blocks), meta=self.meta, links=tuple(self.links))


def _post_block(lines: Sequence[str], links: Sequence[str]) -> Block:
    """An embedded post from its lines; a last line starting with a dash is its attribution."""
    lines = [x for x in (_clean(x) for x in lines) if x]
    author = date_text = ""
    if len(lines) > 1 or (lines and _ATTRIBUTION.match(lines[-1])):
        found = _ATTRIBUTION.match(lines[-1])
        if found:
            rest = found.group("rest")
            lines = lines[:-1]
            handle = _HANDLE.search(rest)
            author = handle.group(0) if handle else rest.split(",")[0].split("(")[0].strip()
            when = re.search(_FULL_DATE, rest, re.IGNORECASE)
            date_text = when.group(0) if when else ""
    # the post's own address only (a status or channel message), never a shortened or
    # quoted link inside it
    url = next((u for u in links if _PERMALINK.fullmatch(u.rstrip(".,;"))), "")
    return Block(text=" ".join(lines), post=True, author=author, date_text=date_text, url=url)


def _is_html(text: str, suffix: str) -> bool:
    head = text.lstrip()[:500].lower()
    return suffix in (".html", ".htm", ".xhtml") or head.startswith(("<!doctype html", "<html"))


def parse_document(text: str, *, suffix: str = "") -> Document:
    """Split a text into blocks (paragraphs, embedded posts) and read its header.

    HTML (by ``suffix`` or a ``<!doctype html>``/``<html>`` start) is read with the
    standard library's parser: ``<blockquote>`` elements are embedded posts, ``<meta>``
    tags, JSON-LD ``datePublished`` and ``<time datetime>`` give the date and URL. Plain
    text and Markdown: leading ``key: value`` lines (or YAML front matter) are the
    header, blank lines separate paragraphs, ``>`` lines are embedded posts.
    """
    if _is_html(text, suffix.lower()):
        reader = _HTMLReader()
        reader.feed(text)
        reader.close()
        return reader.document()
    return _parse_plain(text)


def _parse_plain(text: str) -> Document:
    """Plain text or Markdown into a :class:`Document`."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, body = _header(lines)
    own = "\n".join(x for x in body if not x.lstrip().startswith(">"))  # not embedded posts
    links = [m.group(0).rstrip(".,;") for m in _URL.finditer(own)]
    blocks: list[Block] = []
    para: list[str] = []
    quote: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.extend(_markdown_blocks(para))
            para.clear()

    def flush_quote() -> None:
        if quote:
            q_links = [m.group(0) for m in _URL.finditer("\n".join(quote))]
            blocks.append(_post_block([_markdown_inline(x) for x in _quote_lines(quote)], q_links))
            quote.clear()

    blank = False
    for index, line in enumerate(body):
        stripped = line.strip()
        following = body[index + 1].strip() if index + 1 < len(body) else ""
        if re.fullmatch(r"=+|-+", stripped) and len(stripped) >= 3:
            continue  # a setext heading's underline (read with the line above)
        if stripped and not para and re.fullmatch(r"={3,}|-{3,}", following):
            stripped = "# " + stripped  # "Notes" over "-----": a heading
        if _BOILERPLATE_LINE.match(stripped):
            continue
        original = _ORIGINAL_URL.match(stripped)
        if original:  # saved pages often end with their address
            meta.setdefault("url", original.group(1))
            continue
        marker = _THREAD_MARK.match(stripped)
        if marker and not stripped.startswith(">"):
            meta.setdefault("thread", "yes")
            stripped = stripped[marker.end() :]
            if not stripped:
                continue
        if stripped.startswith(">"):
            flush_para()
            quote.append(stripped.lstrip(">").strip())
            continue
        flush_quote()
        if not stripped:
            blank = True
            if not (para and _ends_list(para)):  # a list may follow its lead-in after a gap
                flush_para()
            continue
        if re.match(r"#{1,6}(?:\s|$)", stripped):
            flush_para()
            blocks.append(Block(text=_markdown_inline(stripped.lstrip("#")), heading=True))
        elif _is_label_line(stripped) and (blank or not para or para[-1].endswith(_TERMINAL)):
            # a short unpunctuated line opening a paragraph ("🇷🇺 Khmeimim Air Base"): a heading
            flush_para()
            blocks.append(Block(text=_markdown_inline(stripped), heading=True, label=True))
        elif _LIST_ITEM.match(stripped):
            if para and not _ends_list(para):
                flush_para()
            para.append(stripped)
        else:
            if blank:
                flush_para()
            para.append(stripped)
        blank = False
    flush_para()
    flush_quote()
    return Document(blocks=_title_first(_labels(blocks)), meta=meta, links=tuple(links))


def _labels(blocks: list[Block]) -> list[Block]:
    """Label lines stay headings only when text follows them: the last of several short
    lines ("🇷🇺 Khmeimim Air Base" / "Looking pretty empty, only 5 aircraft visible") and a
    label at the end of the text are text."""
    out = list(blocks)
    for i in range(len(out) - 1, -1, -1):
        if out[i].label and (i + 1 == len(out) or out[i + 1].heading):
            out[i] = Block(text=out[i].text)
    return out


def _is_label_line(line: str) -> bool:
    """A section label: short (at most 8 words, 60 characters), no final punctuation, not a
    list item, a URL or a quote, e.g. "🇷🇺 Khmeimim Air Base" or "Tartus naval base"."""
    text = line.strip()
    if not text or len(text) > 60 or text.endswith(_TERMINAL) or _LIST_ITEM.match(text):
        return False
    if text.startswith((">", "(", "[", '"', "“", "'", "-", "*", "<")) or _URL.search(text):
        return False
    words = re.findall(r"[^\W_]+", text)
    return 0 < len(words) <= 8 and any(w[:1].isupper() for w in words)


def _title_first(blocks: list[Block]) -> tuple[Block, ...]:
    """Mark a plain-text title (a short first line without final punctuation) as a heading."""
    if blocks and not blocks[0].post and not blocks[0].heading:
        first = blocks[0].text
        end = re.sub(r"[^\w.!?:\"”]+$", "", first)  # "... from Dec 13. Big changes. 🧵"
        sentences = re.search(r"[.!?]\s+[A-Z]", first)  # a title is one phrase
        if len(first) <= 150 and not end.endswith((".", "!", "?", ":", '"', "”")) and not sentences:
            blocks[0] = Block(text=first, heading=True)
    return tuple(blocks)


def _ends_list(para: list[str]) -> bool:
    """The paragraph so far introduces or continues a list (items stay with their lead-in)."""
    return para[-1].endswith(":") or bool(_LIST_ITEM.match(para[-1]))


def _quote_lines(quote: list[str]) -> list[str]:
    """Blockquote lines grouped into paragraphs, the attribution line kept apart."""
    out: list[str] = []
    current: list[str] = []
    for line in quote:
        if not line or _ATTRIBUTION.match(line):
            if current:
                out.append(" ".join(current))
                current = []
            if line:
                out.append(line)
        else:
            current.append(line)
    if current:
        out.append(" ".join(current))
    if len(out) > 2 and not _ATTRIBUTION.match(out[-1]):
        out = [" ".join(out)]
    elif len(out) > 2:
        out = [" ".join(out[:-1]), out[-1]]
    return out


def _markdown_blocks(para: list[str]) -> list[Block]:
    """A paragraph as blocks: items that are whole sentences ("- Satellite imagery showed
    ...") or open with their own day ("- 2 Dec: 3 frigates at the piers") each a block of
    their own, apart from their lead-in; else one block."""
    items = [x for x in para if _LIST_ITEM.match(x)]
    whole = all(x.rstrip().endswith((".", "!", "?")) or _DATED_ITEM.match(x) for x in items)
    if items and whole:
        lead = [x for x in para if not _LIST_ITEM.match(x)]
        if all(not _LIST_ITEM.match(x) for x in para[: len(lead)]):
            out = [_markdown_block(lead)] if lead else []
            logged = bool(lead) and all(_DATED_ITEM.match(x) for x in items)
            return out + [replace(_markdown_block([x]), logged=logged) for x in items]
    return [_markdown_block(para)]


def _markdown_block(para: list[str]) -> Block:
    """A paragraph (list items joined with '; ') with Markdown markup removed."""
    text = ""
    for raw in para:
        item = _LIST_ITEM.match(raw)
        part = raw[item.end() :] if item else raw
        sep = "; " if item and text and not text.endswith(":") else " "
        text = f"{text}{sep}{part}" if text else part
    return Block(text=_markdown_inline(text))


def _markdown_inline(text: str) -> str:
    """Text of a Markdown line: images dropped, links to their text, emphasis removed."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]*)\]\((https?://[^)\s]+)[^)]*\)", r"\1", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*]+)(?<!\s)\*(?!\w)", r"\1", text)
    text = re.sub(r"(?<![\w_])_(?!\s)([^_]+)(?<!\s)_(?![\w_])", r"\1", text)
    return _clean(_FOOTNOTE_MARK.sub("", text))


def _header(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Header values (front matter or leading ``key: value`` lines) and the remaining lines."""
    meta: dict[str, str] = {}
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start < len(lines) and lines[start].strip() == "---":
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "---"), None)
        if end is not None:
            for line in lines[start + 1 : end]:
                _header_line(line, meta)
            start = end + 1
    i = start
    while i < len(lines) and i - start < 12:
        line = lines[i]
        if not line.strip():
            if meta:
                i += 1
                continue
            break
        inline = _INLINE_DATE.match(line)
        if inline and inline.group("rest").strip():  # "date 2024-12-05 The Russian navy..."
            meta.setdefault("date", inline.group("date"))
            lines = [*lines[:i], inline.group("rest"), *lines[i + 1 :]]
            break
        if not _header_line(line, meta):
            break
        i += 1
    return meta, _scan_metadata(lines[i:], meta)


METADATA_LINES = 15
"""How many of the first lines of a body :func:`_scan_metadata` reads for metadata."""


def _scan_metadata(lines: list[str], meta: dict[str, str]) -> list[str]:
    """Metadata lines anywhere in the first :data:`METADATA_LINES` non-empty lines of a body
    (a date line, inline or alone; an ``Original url:``/``URL:`` line; a by-line with its
    date) read into ``meta`` and taken out of the body; an inline date line leaves its text.
    """
    out: list[str] = []
    seen = 0
    for line in lines:
        stripped = line.strip()
        if not stripped or seen >= METADATA_LINES:
            out.append(line)
            continue
        seen += 1
        inline = _INLINE_DATE.match(stripped) or _ISO_LEAD.match(stripped)
        url = _URL_LINE.match(stripped)
        byline = _BYLINE.match(stripped) if len(stripped) <= 100 else None
        if byline and not _BYLINE_TAIL.match(byline.group("tail")):
            byline = None
        telegram = _TELEGRAM_HEAD.match(stripped)
        stamp = _STAMP_LINE.match(stripped)
        if telegram:  # "Rybar in English, [15.12.2024 09:41]"
            meta.setdefault("author", telegram.group("who").strip())
            meta.setdefault("date", telegram.group("date"))
            meta.setdefault("kind", "post")
        elif _HANDLE_LINE.match(stripped) and seen <= 3:  # "AuroraIntel" / "@AuroraIntel"
            meta.setdefault("author", stripped)
            meta.setdefault("kind", "post")
            names = [i for i, x in enumerate(out) if x.strip()]
            if names and len(out[names[-1]].strip()) <= 50:
                del out[names[-1]]  # the display name above the handle
        elif stamp:  # "10:41 AM · Dec 13, 2024"
            meta.setdefault("date", stamp.group("date"))
        elif inline and "date" not in meta:
            meta["date"] = inline.group("date")
            if inline.group("rest").strip():
                out.append(inline.group("rest"))
        elif url:
            meta.setdefault("url", url.group(1))
        elif byline:
            meta.setdefault("author", byline.group("who"))
            if byline.group("thread"):
                meta.setdefault("kind", "post")
                meta.setdefault("thread", "yes")
            when = re.search(_FULL_DATE, byline.group("tail"), re.IGNORECASE)
            if when:
                meta.setdefault("byline_date", when.group(0))
        else:
            out.append(line)
    return out


def _header_line(line: str, meta: dict[str, str]) -> bool:
    """Read one ``key: value`` header line into ``meta``; False when it is not one.

    Without a colon only dates (``date 2023-11-12``) and by-lines (``By A. Writer``) count.
    """
    found = _HEADER.match(line)
    if found is None:
        return False
    key = found.group("key").lower().replace("_", " ").replace("-", " ")
    value = found.group("value").strip().strip("<>").strip("\"'")
    colon = bool(re.match(r"^\s*[\w -]+?\s*[:=]", line))
    if key in ("date", "published", "posted"):
        if not re.search(r"\d", value):
            return False
        key = "date"
    elif key in ("by", "author"):
        byline = _BYLINE.match(line)
        if not colon and not (byline and _BYLINE_TAIL.match(byline.group("tail"))):
            return False  # "By Monday, the ships had left" is a sentence
        key = "author"
        if byline and not colon:
            value = byline.group("who")
            when = re.search(_FULL_DATE, byline.group("tail"), re.IGNORECASE)
            if when:
                meta.setdefault("byline_date", when.group(0))
    elif not colon:
        return False
    elif "url" in key or key in ("link", "canonical"):
        key = "url"
        if not _URL.match(value):
            return False
    elif key in ("outlet", "publisher"):
        key = "source"
    elif key == "type":
        key = "kind"
    elif key == "charset":
        key = "encoding"
    meta.setdefault(key, value)
    return True


# ----------------------------------------------------------------------------- dates


def _parse_date(expression: str, base: date | None = None) -> date | None:
    """One date expression parsed by ``dateparser`` (relative to ``base`` when given)."""
    import dateparser

    settings = dict(_DATE_SETTINGS)
    if base is not None:
        settings["RELATIVE_BASE"] = datetime(base.year, base.month, base.day, 12)
    text = re.sub(
        r"^(?:on|by|from|since|until|till|before|after)\s+", "", expression.strip(), count=1
    )
    text = re.sub(r"\bthe\s+", "", text, flags=re.IGNORECASE).rstrip(".")
    parsed = dateparser.parse(text, languages=["en"], settings=settings)
    if parsed is None:
        return None
    day = parsed.date()
    if base is not None and re.fullmatch(r"\d{1,2}" + _ORD, text) and day > base:
        # "the 20th" written on the 12th: the 20th of the month before
        month_before = date(base.year, base.month, 1) - timedelta(days=1)
        try:
            day = month_before.replace(day=day.day)
        except ValueError:
            return None
    no_year = base is not None and not _YEAR.search(expression)
    if no_year and base is not None and re.search(_MONTH, text, re.I) and (base - day).days > 183:
        # a day and month without a year: the year that puts it nearest the base date
        day = day.replace(year=day.year + 1)
    return day


def published_date(doc: Document) -> tuple[date | None, str]:
    """The text's own date and where it was found (``header``, ``meta``, ``dateline``...).

    Order: header line, HTML metadata (meta tags, JSON-LD, ``<time>``), a dateline with
    a year at the start of the body, a by-line date (a full date in the first lines).
    """
    for key, where in (("date", "header"), ("jsonld", "metadata"), ("time", "metadata")):
        if doc.meta.get(key):
            value = doc.meta[key]
            day = _parse_date(value)
            inside = re.search(r"\d{4}-\d{2}-\d{2}(?=T\d|\b)|" + _FULL_DATE, value, re.I)
            if day is None and inside:  # "Time: 2024-12-05T10:12:00Z"
                day = _parse_date(inside.group(0))
            if day is not None:
                return day, where
    body = [b for b in doc.blocks if not b.post]
    for block in body[:3]:
        line = _DATELINE.match(block.text)
        if line and line.group("date") and _YEAR.search(line.group("date")):
            day = _parse_date(line.group("date"))
            if day is not None:
                return day, "dateline"
    if doc.meta.get("byline_date"):
        day = _parse_date(doc.meta["byline_date"])
        if day is not None:
            return day, "by-line"
    for block in body[:8]:
        if len(block.text) > 160 and not block.heading:
            continue
        found = re.search(_FULL_DATE, block.text, re.IGNORECASE)
        if found:
            day = _parse_date(found.group(0))
            if day is not None:
                return day, "by-line"
    for block in body[:3]:  # a dateline without a year, with the year in a heading
        line = _DATELINE.match(block.text)
        if line and line.group("date"):
            years = [int(y) for b in body[:4] for y in _YEAR.findall(b.text)]
            if years:
                return _parse_date(f"{line.group('date')} {max(years)}"), "dateline"
    return None, ""


def resolve_event_date(text: str, published: date | None) -> date | None:
    """The day a claim is about: the first day it states, else the first day it hedges.

    See :func:`resolve_event_dates` for how expressions are read.
    """
    stated, hedged = resolve_event_dates(text, published)
    return stated or hedged


def resolve_event_dates(
    text: str, published: date | None, *, month_first: bool = False
) -> tuple[date | None, date | None]:
    """The first day-level date ``text`` states and the first it only hedges.

    A date is hedged when a hedge ("likely", "probably", "around", "on or about", "believed
    to have", "may have") comes just before it in the same clause, or "or so" just after:
    "imagery from 3 December confirms the flotilla has departed, likely on 2 December"
    states 3 December and hedges 2 December. Relative expressions ("on Tuesday", "the
    9th", "yesterday", "two days ago", "7 Nov") are resolved against ``published``
    (weekdays and bare days of the month in the past); without a publication date only
    dates with a year are read. A range of days states its first ("between 10 and 12
    December", "Dec. 11-12" and "from 2 to 5 December" state the 10th, 11th and 2nd). Bare
    years and months are not days. A weekday that is the
    publication's own weekday is the publication day ("said on Friday" in Friday's paper),
    not the week before, unless "last" precedes it. Slashed dates are day first ("03/12/2024"
    is 3 December) unless one part cannot be a month or ``month_first`` says the text writes
    month-first dates (:func:`month_first`): then "12/03/2024" is 3 December.
    """
    stated: date | None = None
    hedged: date | None = None
    for found in _DATE_EXPRESSIONS.finditer(text):
        expression = found.group(0)
        day: date | None
        day_range = _DAY_RANGE.fullmatch(expression)
        if day_range is not None:  # "10-12 December" states 10 December
            expression = " ".join(
                part for part in day_range.group("first", "month", "year") if part
            ).replace(",", "")
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", expression):
            day = _slashed(expression, month_first)
        elif published is None and not _YEAR.search(expression):
            continue  # "on Tuesday" of an undated text: no day can be given
        elif (
            published is not None
            and re.fullmatch(_WEEKDAY, expression, re.IGNORECASE)
            and expression.lower() == published.strftime("%A").lower()
            and not re.search(r"\blast\s+$", text[: found.start()], re.IGNORECASE)
        ):
            day = published
        else:
            day = _parse_date(_words_to_digits(expression), published)
        if day is None or (published is not None and abs((day - published).days) > 3 * 366):
            continue
        if _is_hedged(text, found.start(), found.end()):
            hedged = hedged or day
        else:
            stated = stated or day
        if stated and hedged:
            break
    return stated, hedged


def _slashed(expression: str, month_first: bool) -> date | None:
    """A ``NN/NN/YYYY`` date: day first unless a part cannot be a month, or ``month_first``."""
    first, second, year = (int(x) for x in expression.split("/"))
    if first > 12 or (second <= 12 and not month_first):
        first, second = second, first  # day/month/year
    try:
        return date(year, first, second)
    except ValueError:
        return None


_MONTH_FIRST = re.compile(rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:{_ORD})?\b(?!\s*{_MONTH})", re.IGNORECASE)
_DAY_FIRST = re.compile(rf"\b\d{{1,2}}(?:{_ORD})?\s+(?:of\s+)?{_MONTH}\b", re.IGNORECASE)


def _ambiguous_slashed(text: str, name: str, first_month: bool) -> list[str]:
    """A note when ``text`` holds slashed dates that read as two days (12/03/2024), naming
    the reading taken."""
    for found in re.finditer(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", text):
        a, b = int(found.group(1)), int(found.group(2))
        if a != b and 1 <= a <= 12 and 1 <= b <= 12:
            read = _slashed(found.group(0), first_month)
            example = _MONTH_FIRST.search(text) if first_month else None
            style = "month first" if first_month else "day first"
            if example is not None:  # say why, with the text's own words
                style += f" (the text writes dates such as {example.group(0)!r})"
            return [
                f"{name}: slashed dates such as {found.group(0)!r} are read {style}: "
                f"{read:%d %B %Y}; check the claims' dates, or write dates as YYYY-MM-DD"
            ]
    return []


def month_first(text: str) -> bool:
    """Whether a text writes its dates month first ("Dec. 6", "December 10, 2024") more often
    than day first ("6 Dec"): its slashed dates are then read month first (12/03 = Dec 3)."""
    return len(_MONTH_FIRST.findall(text)) > len(_DAY_FIRST.findall(text))


def _is_hedged(text: str, start: int, end: int) -> bool:
    """Whether the date at ``text[start:end]`` is an estimate (a hedge just before it in its
    clause, or "or so" just after it)."""
    before = text[:start]
    clause = _CLAUSE_END.split(before)[-1] if before else ""
    return bool(_HEDGE.search(clause[-60:])) or bool(_HEDGE_AFTER.match(text[end : end + 20]))


def _words_to_digits(expression: str) -> str:
    """ "two days ago" -> "2 days ago" (dateparser reads both; digits are safer)."""
    words = {k: str(v) for k, v in _WORD_NUMBERS.items() if " " not in k}
    return re.sub(
        r"\b(" + "|".join(words) + r")\b",
        lambda m: words[m.group(1).lower()],
        expression,
        flags=re.I,
    )


# ----------------------------------------------------------------------------- numbers


def _singular(word: str) -> str:
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("es", ""), ("s", "")):
        if w.endswith(suffix) and w[: -len(suffix)] + repl in _OBJECTS:
            return w[: -len(suffix)] + repl
    return w


def find_quantities(text: str) -> tuple[Quantity, ...]:
    """Numbers of things: "4x vessels", "3 Il-76", "four jets", "two S-400 launchers", and
    "no aircraft" (a count of 0), in text order.

    A number counts when the words after it end in a known object noun (jets, vessels,
    corvette, launchers...) or a type designator (Il-76, Su-24M, S-400); after ``Nx``
    the first word counts whatever it is; "Il-76 x3" counts too. Years, ordinals, the
    digits of a designator (the 76 in Il-76) and measures ("49-year", "20 km") do not.
    """
    found_at: list[tuple[int, Quantity]] = []
    for found in _NEGATED.finditer(text):  # "no aircraft were visible": none of them
        what = _object_phrase(text[found.end() :], times=False)
        if what:
            found_at.append((found.start(), Quantity(count=0, what=what)))
    for found in _NUMBER.finditer(text):
        raw = found.group("num").lower()
        count = _WORD_NUMBERS.get(raw)
        if count is None:
            count = int(raw.replace(",", ""))
            if 1800 <= count <= 2100 and "," not in raw:
                continue
        share = _SHARE_OF.search(text[: found.start()])
        if share is not None:  # "two of the four frigates": two frigates
            count = _WORD_NUMBERS.get(share.group("n").lower()) or int(share.group("n"))
        if raw[0].isdigit() and re.search(
            r"(?<!\d\s)(?<!\d)\b" + _MONTH + r"\.?\s*$", text[: found.start()], re.IGNORECASE
        ):
            continue  # the day of a date ("December 17 shows ..."; not "5 December 3 ships")
        what = _object_phrase(text[found.end() :], times=bool(found.group("x")))
        if what:
            found_at.append((found.start(), Quantity(count=count, what=what)))
    for found in _ONE_DESIGNATED.finditer(text):  # "an An-124 was photographed": one
        rest = text[found.end() :]
        what = _object_phrase(rest, times=False)
        if what and _DESIGNATOR.match(what.split()[0]) and not _NOT_THE_THING.match(rest):
            found_at.append((found.start(), Quantity(count=1, what=what)))
    out = [q for _, q in sorted(found_at, key=lambda x: x[0])]
    for found in _POSTFIX.finditer(text):  # "Il-76 x3"
        what = found.group("what")
        if _DESIGNATOR.match(what) or _singular(what) in _OBJECTS:
            out.append(Quantity(count=int(found.group("num")), what=what))
    return tuple(out)


_THAN = re.compile(r"\s+than\b", re.IGNORECASE)


def _object_phrase(rest: str, *, times: bool) -> str:
    """The words after a number up to the last object noun or designator ('' when none)."""
    tokens: list[str] = []
    pos = 0
    while len(tokens) < 4:
        found = _TOKEN.match(rest, pos)
        if found is None or (tokens and rest[pos : found.start(1)].strip()):
            break
        word = found.group(1)
        lower = word.lower().removesuffix("'s")
        if not tokens and lower in ("more", "further") and not _THAN.match(rest, found.end()):
            pos = found.end()  # "two more Il-76": two Il-76 (not "5 more than ...")
            continue
        if lower in _NOT_MODIFIER or lower in _WORD_NUMBERS:
            break
        tokens.append(word.removesuffix("'s"))
        pos = found.end()
    head = -1
    for i, word in enumerate(tokens):
        if _singular(word) in _OBJECTS or _DESIGNATOR.match(word):
            head = i
    if head >= 0:
        return " ".join(tokens[: head + 1])
    return tokens[0] if times and tokens else ""


# ----------------------------------------------------------------------------- sites


_TRANSLITERATIONS = (
    ("kh", "h"),
    ("ou", "u"),
    ("ee", "i"),
    ("ey", "ei"),
    ("ay", "ai"),
    ("ai", "ei"),
)
"""Spellings that differ only by transliteration from Arabic or Russian (Khmeimim, Hmeimim,
Hmeymim, Hmaimim; Tartus, Tartous) fold to one form, in names and text alike."""


def _fold(text: str) -> str:
    """Casefolded text without diacritics and with transliteration variants folded together
    (Ṭarṭūs -> tartus, Tartous -> tartus, Hmaimim -> hmeimim, Khmeimim -> hmeimim)."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    for variant, common in _TRANSLITERATIONS:
        folded = folded.replace(variant, common)
    return folded


def site_matcher(registry: Registry) -> list[tuple[str, re.Pattern[str]]]:
    """One pattern per site over its name, its aliases and (if a plain word) its id.

    Patterns run on :func:`_fold`-ed text: case and diacritics are ignored, a space in
    a name also matches a hyphen or several spaces, and names match whole words only.
    """
    out = []
    for site in registry:
        names = [site.name, *site.aliases]
        if re.fullmatch(r"[A-Za-z]{4,}", site.id):
            names.append(site.id)
        alternatives = sorted({_fold(n) for n in names if n.strip()}, key=len, reverse=True)
        parts = [r"[\s-]+".join(re.escape(w) for w in a.split()) for a in alternatives]
        out.append((site.id, re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")))
    return out


def sites_named(text: str, matcher: Sequence[tuple[str, re.Pattern[str]]]) -> tuple[str, ...]:
    """Ids of the sites ``text`` names, in registry order."""
    folded = _fold(text)
    return tuple(
        site_id
        for site_id, pattern in matcher
        if any(
            not _PLACE_NOT_BASE.match(folded[m.end() :])
            and not _PLACE_NOT_BASE_BEFORE.search(folded[: m.start()])
            for m in pattern.finditer(folded)
        )
    )


# ----------------------------------------------------------------------------- sentences

_ABBREVIATIONS = (
    "Mr", "Mrs", "Ms", "Dr", "Gen", "Lt", "Col", "Maj", "Capt", "Adm", "Cdr", "Sgt", "St",
    "No", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov",
    "Dec", "approx", "ca", "vs", "etc", "Inc", "Ltd", "Co", "U.S", "U.K", "U.N", "e.g", "i.e",
)  # fmt: skip
_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9@])")


_CLAUSE_SPLIT = re.compile(r";\s+|,\s+(?=(?:while|whereas|but)\b)|,?\s+(?=where\s)", re.IGNORECASE)
"""Where a sentence's clauses part: a semicolon, ", while", ", whereas", ", but"."""
_EARLIER = re.compile(
    r"\b(?:last\s+(?:week|month)|(?:a|one|two|three|several|a\s+few)\s+(?:days?|weeks?)\s+"
    r"(?:earlier|before|ago)|(?:days|weeks)\s+(?:earlier|before)|earlier\s+(?:this|that|in\s+the)"
    r"\s+(?:week|month)|the\s+(?:week|day|month)\s+before|previously|formerly|until\s+recently)\b",
    re.IGNORECASE,
)
"""An earlier time without a day ("last week", "a week earlier", "earlier this week")."""


def dated_clauses(sentence: str, published: date | None, *, month_first: bool = False) -> list[str]:
    """The parts of a sentence that each state their own day ("On 5 December three frigates
    were at Tartus; on 9 December none remained there" -> two parts), else the sentence
    whole. A clause without a day stays with the clause before it."""
    clauses = [c for c in _CLAUSE_SPLIT.split(sentence) if c.strip()]
    if len(clauses) < 2:
        return [sentence]
    days = [resolve_event_dates(c, published, month_first=month_first)[0] for c in clauses]
    if len({d for d in days if d is not None}) < 2:
        return [sentence]
    parts: list[str] = []
    for clause, day in zip(clauses, days, strict=True):
        if day is None and parts:
            parts[-1] = f"{parts[-1]}; {clause}"
        else:
            parts.append(clause)
    return parts


def current_quantities(unit: str, published: date | None) -> tuple[Quantity, ...]:
    """The quantities of ``unit`` without those of a clause set at an earlier, undated time
    ("no warships, while two frigates were there a week earlier": 0 warships), when another
    clause states a day or is not set earlier; a unit set earlier as a whole keeps its
    quantities ("Images from last week show 4 Il-76")."""
    clauses = [c for c in _CLAUSE_SPLIT.split(unit) if c.strip()]
    earlier = [bool(_EARLIER.search(c)) and resolve_event_dates(c, published)[0] is None
               for c in clauses]  # fmt: skip
    if len(clauses) < 2 or not any(earlier) or all(earlier):
        return find_quantities(unit)
    return tuple(
        q for c, e in zip(clauses, earlier, strict=True) if not e for q in find_quantities(c)
    )


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (abbreviations like "Dec." and "U.S." do not end one)."""
    out: list[str] = []
    start = 0
    for found in _SPLIT.finditer(text):
        before = text[start : found.start()]
        word = re.search(r"([\w.]+)[.!?][\"'”’)\]]*$", before)
        if word and (word.group(1) in _ABBREVIATIONS or re.fullmatch(r"[A-Z]", word.group(1))):
            continue
        out.append(text[start : found.start()].strip())
        start = found.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


# ----------------------------------------------------------------------------- claims


def _kind_of(sentence: str, default: str) -> str:
    """``official`` for quoted officials, ``post`` for cited posts, else ``default``."""
    if _OFFICIAL_NOUN.search(sentence) and _SPEECH.search(sentence):
        return "official"
    if default == "article" and _POST_CUES.search(sentence):
        return "post"
    return default


def _is_background(sentence: str, published: date, event: date | None) -> bool:
    """History or description: an old year or a history word, and no day-level date."""
    if event is not None:
        return False
    old = [int(y) for y in _YEAR.findall(sentence) if int(y) < published.year - 1]
    return bool(old) or bool(_HISTORY.search(sentence))


def _says_something(sentence: str, quantities: Sequence[Quantity], event: date | None) -> bool:
    """An observation, a number, a day or a quoted statement (not a bare description, nor a
    conditional without a day or number: "the loss of Hmeimim would cut the flights")."""
    quoted = bool(_OFFICIAL_NOUN.search(sentence) and _SPEECH.search(sentence))
    if quantities or event is not None or quoted:
        return True
    return bool(_EVENT_CUES.search(sentence)) and not _HYPOTHETICAL.search(sentence)


@dataclass(frozen=True, kw_only=True)
class _Origin:
    """Where claims come from: the text's date, link, name, kind and file."""

    published: date | None
    url: str
    source: str
    kind: str
    file: str
    observed: date | None = None
    """The day a claim that states none is dated by (a post's own date), else None."""
    reference: date | None = None
    """The day relative dates are read against when not ``published`` (an "Update, Dec 14:"
    paragraph's day)."""
    month_first: bool = False
    """The text writes month-first dates: its slashed dates are month/day/year."""


def _claims_in(
    unit: str,
    origin: _Origin,
    matcher: Sequence[tuple[str, re.Pattern[str]]],
    *,
    whole: bool,
    inherited: tuple[str, ...] = (),
) -> list[TextClaim]:
    """The claims of one sentence (or one whole post when ``whole``), one per site named;
    a sentence that names no site takes the ``inherited`` sites of its section heading."""
    site_ids = sites_named(unit, matcher) or inherited
    if not site_ids:
        return []
    stated, hedged = resolve_event_dates(
        unit, origin.reference or origin.published, month_first=origin.month_first
    )
    event = stated or hedged
    quantities = find_quantities(unit) if whole else current_quantities(unit, origin.published)
    if not whole and origin.published is not None and _is_background(unit, origin.published, event):
        return []
    if not whole and origin.published is None and event is None and _HISTORY.search(unit):
        return []
    if origin.kind != "official" and not _says_something(unit, quantities, event):
        return []
    kind = _kind_of(unit, origin.kind) if not whole else origin.kind
    return [
        TextClaim(
            site_id=site_id,
            claim=unit,
            published=origin.published,
            event_date=event or origin.observed,
            event_date_estimate=hedged,
            quantities=quantities,
            source_url=origin.url,
            source=origin.source,
            kind=kind,
            file=origin.file,
        )
        for site_id in site_ids
    ]


@dataclass
class _Antecedent:
    """The site a back-reference ("the base", "the port") points to: the one the latest
    sentence or heading naming sites named alone, or for "the airfield" and "the port" the
    one of that kind (an air base, a naval base) it named alone."""

    kinds: dict[str, str]
    """Site id -> site kind."""
    last: dict[str | None, str | None] = field(default_factory=dict)
    """Per reference group (``air``, ``sea``, None for any kind), the site it points to."""
    paragraph: tuple[str, ...] = ()
    """The sites the latest paragraph (not a log item) named, for its log items."""

    def saw(self, site_ids: tuple[str, ...]) -> None:
        """Note the sites a sentence or heading names (nothing changes when it names none)."""
        if not site_ids:
            return
        self.last[None] = site_ids[0] if len(site_ids) == 1 else None
        for group, kinds in _REFERENCE_KINDS.items():
            of_kind = [s for s in site_ids if self.kinds.get(s) in kinds]
            if of_kind:
                self.last[group] = of_kind[0] if len(of_kind) == 1 else None

    def heading(self, site_ids: tuple[str, ...]) -> None:
        """A new section: only the sites its heading names can be referred back to."""
        self.last.clear()
        self.paragraph = ()
        self.saw(site_ids)

    def referred(self, sentence: str) -> tuple[str, ...]:
        """The site ``sentence`` refers back to, if it does, one fits and the sentence names
        no other place."""
        if _ELSEWHERE.search(sentence):
            return ()
        found = _BACK_REFERENCE.search(sentence)
        site = self.last.get(found.lastgroup) if found is not None else None
        return (site,) if site is not None else ()

    def continued(self, sentence: str, previous: tuple[str, ...]) -> tuple[str, ...]:
        """The site a sentence goes on about: the one the sentence before it in the same
        paragraph named alone, when this one names no other place and counts only things
        of that site's kind ("... at Hmeimim Air Base. Maxar said two Ka-52 attack
        helicopters were being disassembled.": aircraft at an air base)."""
        if len(previous) != 1 or _ELSEWHERE.search(sentence):
            return ()
        groups = {_thing_group(q.what) for q in find_quantities(sentence)}
        group = groups.pop() if len(groups) == 1 else None
        if group is None:
            return ()
        return previous if self.kinds.get(previous[0]) in _REFERENCE_KINDS[group] else ()


_AIR_THINGS = {
    "aircraft", "jet", "fighter", "bomber", "helicopter", "helo", "plane", "airplane",
    "airliner", "airlifter", "freighter", "drone", "uav", "airframe", "gunship", "interceptor",
}  # fmt: skip
_SEA_THINGS = {
    "vessel", "ship", "warship", "boat", "corvette", "frigate", "destroyer", "cruiser",
    "submarine", "sub", "tug", "minesweeper", "trawler", "landing ship",
}  # fmt: skip
_AIR_DESIGNATOR = re.compile(r"^(?:Il|An|Su|MiG|Ka|Mi|Tu|Yak|Be|A)-\d", re.IGNORECASE)


def _thing_group(what: str) -> str | None:
    """``air`` for aircraft ("Ka-52 attack helicopters", "Il-76"), ``sea`` for vessels, None
    for anything else (vehicles, launchers, flights)."""
    words = what.split()
    head = _singular(words[-1].lower()) if words else ""
    if head in _AIR_THINGS or (words and _AIR_DESIGNATOR.match(words[0]) and len(words) == 1):
        return "air"
    if head in _SEA_THINGS:
        return "sea"
    return None


def _doc_kind(meta: dict[str, str], url: str) -> str:
    """``post`` (header or a social-media URL), ``official`` (statement) or ``article``."""
    declared = meta.get("kind", "").lower()
    if declared in ("post", "tweet", "telegram", "social", "thread") or meta.get("thread"):
        return "post"
    if declared in ("official", "statement", "press release", "communique"):
        return "official"
    if declared:
        return "article"
    host = urlparse(url).netloc.lower()
    if any(host == h or host.endswith("." + h) or h in host for h in _POST_HOSTS):
        return "post"
    return "article"


def _source_name(meta: dict[str, str], url: str, kind: str, name: str) -> str:
    """Outlet (header/metadata), the author of a post, the URL's host, else the file name."""
    if kind == "post" and meta.get("author"):
        return meta["author"]
    if meta.get("source"):
        return meta["source"]
    if meta.get("agency"):
        return meta["agency"]
    host = urlparse(url).netloc.lower().removeprefix("www.")
    return host or meta.get("author") or Path(name).name


def extract_text(
    text: str,
    registry: Registry,
    *,
    name: str = "text",
    suffix: str = "",
    notes: list[str] | None = None,
) -> list[TextClaim]:
    """Claims about the sites of ``registry`` in one decoded text (pure; no I/O).

    A text without a date of its own (no header, metadata, dateline or by-line date) still
    gives its claims, with ``published`` None; a warning naming ``name`` is appended to
    ``notes`` when given. The source URL is the text's own (header, ``Original url:``,
    HTML metadata), never a link quoted in it.
    """
    doc = parse_document(text, suffix=suffix)
    published, _where = published_date(doc)
    doc = Document(blocks=_without_furniture(doc.blocks), meta=doc.meta, links=doc.links)
    if published is None and notes is not None:
        notes.append(
            f"{name}: no publication date found (no 'date YYYY-MM-DD' line, metadata, "
            "dateline or by-line date); its claims are listed with an unknown publication "
            "date and only dates with a year are read. Add a first line such as "
            "'date 2024-12-13'"
        )
    url = doc.meta.get("url", "")
    kind = _doc_kind(doc.meta, url)
    agency = _dateline_agency(doc)
    if agency:
        doc.meta.setdefault("agency", agency)
    origin = _Origin(
        published=published,
        url=url,
        source=_source_name(doc.meta, url, kind, name),
        kind=kind,
        file=name,
        observed=published if kind == "post" else None,
        month_first=month_first(" ".join(b.text for b in doc.blocks)),
    )
    if notes is not None:
        notes.extend(_ambiguous_slashed(text, name, origin.month_first))
    matcher = site_matcher(registry)
    claims: list[TextClaim] = []
    sections = [b for b in doc.blocks if b.heading and _section_sites(b.text, matcher)]
    body = _clean(" ".join(b.text for b in doc.blocks))
    if (
        kind == "post"
        and not doc.meta.get("thread")
        and len(sections) < 2
        and len(sites_named(body, matcher)) < 2
    ):  # one post about one site: whole
        claims.extend(_claims_in(body, origin, matcher, whole=True))
    else:  # an article, a thread, or a post in sections: sentence by sentence
        inherited: tuple[str, ...] = ()
        antecedent = _Antecedent(kinds={site.id: site.kind for site in registry})
        for block in doc.blocks:
            if block.heading:
                inherited = _section_sites(block.text, matcher)
                antecedent.heading(sites_named(block.text, matcher))
                continue
            claims.extend(_block_claims(block, origin, matcher, inherited, antecedent))
    return _unique(claims)


def _without_furniture(blocks: Sequence[Block]) -> tuple[Block, ...]:
    """The blocks without page furniture: a "Related", "More on this story", "Share this:" or
    "Notes" line and what follows it up to the next real heading (not a plain-text label);
    "READ MORE: ..." and subscribe lines; hashtag lines."""
    out: list[Block] = []
    skipping = False
    for block in blocks:
        if not block.post and _SECTION_END.match(block.text):
            skipping = True
            continue
        if skipping and not (block.heading and not block.label):
            continue
        skipping = False
        if not block.post and _BOILERPLATE_LINE.match(block.text):
            continue
        out.append(block)
    return tuple(out)


def _section_sites(heading: str, matcher: Sequence[tuple[str, re.Pattern[str]]]) -> tuple[str, ...]:
    """The sites a heading gives to the lines below it: those it names when it is a label
    ("🇷🇺 Khmeimim Air Base", "Tartus naval base update"), at most three words besides the
    site names; a headline ("Russian aircraft shuttle out of Latakia air base") gives none."""
    site_ids = sites_named(heading, matcher)
    if not site_ids:
        return ()
    rest = _fold(heading)
    for site_id, pattern in matcher:
        if site_id in site_ids:
            rest = pattern.sub(" ", rest)
    return site_ids if len(re.findall(r"[^\W\d_]+", rest)) <= 3 else ()


def _dateline_agency(doc: Document) -> str:
    """The agency of a dateline such as ``MOSCOW, Dec 10 (Reuters) -`` ('' when none)."""
    for block in [b for b in doc.blocks if not b.post][:3]:
        line = _DATELINE.match(block.text)
        if line and line.group("agency"):
            return line.group("agency").strip()
    return ""


def _block_claims(
    block: Block,
    origin: _Origin,
    matcher: Sequence[tuple[str, re.Pattern[str]]],
    inherited: tuple[str, ...] = (),
    antecedent: _Antecedent | None = None,
) -> list[TextClaim]:
    """Claims of one block: each sentence of a paragraph, or an embedded post as a whole.

    A sentence that names no site and is not under a site's heading takes the site it
    refers back to ("... showed an An-124 at the base"), from ``antecedent``."""
    if block.heading:
        return []
    if block.post:
        own = (
            _parse_date(block.date_text, origin.published)
            if block.date_text and (origin.published or _YEAR.search(block.date_text))
            else None
        )
        post_date = own or origin.published
        post_origin = _Origin(
            published=post_date,
            url=block.url or origin.url,
            source=block.author or origin.source,
            kind="post",
            file=origin.file,
            observed=post_date,
            month_first=origin.month_first,
        )
        return _claims_in(block.text, post_origin, matcher, whole=True, inherited=inherited)
    text = block.text
    line = _DATELINE.match(text)
    if line:
        text = text[line.end() :]
    update = _UPDATE.match(text)
    if update and origin.published is not None:  # "Update, Dec 14: ... yesterday" = the 13th
        day = _parse_date(update.group("date"), origin.published)
        if day is not None:
            origin = replace(origin, reference=day)
            text = text[update.end() :]
    sentences = split_sentences(text)
    credits = [x for x in sentences if _CREDIT.search(x) and not sites_named(x, matcher)]
    for credit in credits:  # "Satellite image © 2024 Maxar, taken Dec. 13, 2024" dates its caption
        stated, _ = resolve_event_dates(credit, origin.reference or origin.published)
        if stated is not None and origin.observed is None:
            origin = replace(origin, observed=stated)
    out: list[TextClaim] = []
    if antecedent is not None and not block.logged:
        antecedent.paragraph = sites_named(text, matcher)
    previous: tuple[str, ...] = ()  # the sites the sentence before named or went on about
    for sentence in sentences:
        if sentence in credits:
            continue
        sites = inherited
        if antecedent is not None and block.logged and len(antecedent.paragraph) == 1:
            sites = sites or antecedent.paragraph  # "- 5 Dec: 1 frigate" under "Seen at Tartus:"
        named = sites_named(sentence, matcher)
        if antecedent is not None:
            if not named and not sites:
                sites = antecedent.referred(sentence) or antecedent.continued(sentence, previous)
            antecedent.saw(named)
        previous = named or (sites if not inherited else ())
        parts = dated_clauses(
            sentence, origin.reference or origin.published, month_first=origin.month_first
        )
        if len(parts) > 1 and len(named) == 1:
            sites = sites or named  # "...; on 9 December none remained there": that site
        for part in parts:
            out.extend(_claims_in(part, origin, matcher, whole=False, inherited=sites))
    return out


def _unique(claims: Iterable[TextClaim]) -> list[TextClaim]:
    """Claims without repeats (same site, text and source), first kept."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for c in claims:
        key = (c.site_id, c.claim, c.source_url)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def extract_files(paths: Iterable[Path | str], registry: Registry) -> Extraction:
    """Claims from each file; a file that cannot be read becomes a :class:`FileProblem`.

    Empty files, binary files and undeclared or unknown encodings are reported per file
    and the other files are still read; a text without a date gives its claims and a
    warning (:attr:`Extraction.warnings`).
    """
    claims: list[TextClaim] = []
    problems: list[FileProblem] = []
    warnings: list[FileProblem] = []
    for raw in paths:
        path = Path(raw)
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(
                FileProblem(file=str(path), message=f"{path}: cannot read ({exc.strerror})")
            )
            continue
        notes: list[str] = []
        try:
            text = decode_text(data, name=str(path))
            claims.extend(
                extract_text(text, registry, name=str(path), suffix=path.suffix, notes=notes)
            )
        except InputError as exc:
            problems.append(FileProblem(file=str(path), message=str(exc)))
        warnings.extend(FileProblem(file=str(path), message=n) for n in notes)
    return Extraction(claims=tuple(claims), problems=tuple(problems), warnings=tuple(warnings))


def ledger_entries(claims: Iterable[TextClaim], *, grade: str = "F6") -> list[EvidenceEntry]:
    """Claims as evidence-ledger entries (no new columns needed).

    ``time`` is the event date when known, else the estimated event date, else the
    publication date (midnight UTC); a claim with none of them cannot be dated and is left
    out (:func:`undated` lists them). ``source`` is the outlet or account with the
    publication date, "Reuters (published 2024-12-13)" or "(publication date unknown)",
    so both dates stay in the ledger; the quantities are read again from the claim text by
    :func:`find_quantities`.
    """
    reliability, credibility = parse_grade(grade)
    out = []
    for c in claims:
        day = c.event_date or c.event_date_estimate or c.published
        if day is None:
            continue
        published = (
            f"published {c.published.isoformat()}" if c.published else "publication date unknown"
        )
        out.append(
            EvidenceEntry(
                site_id=c.site_id,
                time=datetime(day.year, day.month, day.day, tzinfo=UTC),
                source=f"{c.source} ({published})",
                url=c.source_url,
                kind=c.kind,
                claim=c.claim,
                reliability=reliability,
                credibility=credibility,
            )
        )
    return out


def undated(claims: Iterable[TextClaim]) -> list[TextClaim]:
    """Claims without any date (no event date, estimate or publication date): the ledger
    cannot file them."""
    return [c for c in claims if not (c.event_date or c.event_date_estimate or c.published)]
