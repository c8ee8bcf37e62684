"""A recurring run's cron expression, checked as the Kubeflow Pipelines backend will read it.

Why: a cron the backend refuses used to reach the server, and its 400 then read as a fault of
the host. Both places that read a recurring run's cron call robfig/cron v1.2.0's ``cron.Parse``
(not ``ParseStandard``, no custom parser) on the string as sent, nothing prepended or trimmed:

- the API server, before it stores the run: ``toModelJob`` in
  backend/src/apiserver/server/api_converter.go ("Schedule cron is not a supported format"),
  for the v1 and the v2beta1 API alike (job_server.go);
- the ScheduledWorkflow controller, each time it computes the next run:
  ``getNextScheduledTimeImp`` in backend/src/crd/controller/scheduledworkflow/util/cron_schedule.go.

Read: kubeflow/pipelines at 7b70c7b95f6832772efd6fd0029a4024491a0f44 (the same lines at tags
2.15.0, 8fe8d7bdd88f, and 2.17.0, 4a3592cb2dd0; go.mod pins github.com/robfig/cron v1.2.0),
opendatahub-io/data-science-pipelines at 537860c41a45 (the same), and robfig/cron v1.2.0
(b41be1df696709bb6395fe435af20370037c0b4c): parser.go, spec.go, constantdelay.go; Go's
time.ParseDuration and strconv.Atoi. Copied are the rules, not the code; while this was
written, random and edge-case expressions were checked against that parser built with Go:

- ``Parse`` is ``NewParser(Second | Minute | Hour | Dom | Month | DowOptional | Descriptor)``:
  5 or 6 fields split on Go's unicode.IsSpace; 5 are second to month, the day of week then ``*``.
- bounds: second 0-59, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
  day-of-week 0-6 or SUN-SAT (7 is refused); names in those two fields only, in any case (Go's
  strings.ToLower, so even 'İ' is an 'i'), never as a step.
- a field is a comma list (empty items skipped); an item is ``*`` or ``?`` (both "every"), ``N``
  or ``N-M``, each with an optional ``/S``; ``N/S`` means ``N-max/S``. A number is what
  strconv.Atoi reads: ASCII digits, an optional '+', leading zeros, at most 2**63-1. Refused: a
  bound outside the field's range, N > M, S = 0, a second '/' or '-'. No ``L``, ``W`` or ``#``,
  and no year field.
- descriptors, only as the whole expression, in lower case: @yearly @annually @monthly @weekly
  @daily @midnight @hourly, and ``@every <duration>`` as time.ParseDuration reads it (units ns
  us µs μs ms s m h, e.g. 1h30m; no d).

Accepted here as by the backend: descriptors, which cannot be taken for a 5-field cron.
Refused here though the backend accepts them, as it would read them otherwise than written:

- 5 fields: the README asks for 6, and the backend reads '0 */6 * * *' as every 6 minutes;
- ``*-N`` or ``?-N``: the backend drops the ``-N``;
- a field of commas only: the backend reads no value there (for the day of month or of week,
  the other day field alone);
- ANDed day fields (either starred) that meet on no date: days of month none of the months
  has (``30 2``), or none from today to the end of the fifth year after, as far as Next looks
  (``*/31 1 SUN``, a Sunday January 1st, next in 2034). Next then returns the zero time, on
  which the controller starts a run at once or, without catch-up (as ``submission.schedule``
  asks), loops without end (cron_schedule.go);
- ``@every`` under a second (the backend runs it every second) or not in whole seconds (the
  backend drops the fraction).
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
from dataclasses import dataclass

from llama_rollout.errors import ConfigurationError

HINT = (
    "give second minute hour day-of-month month day-of-week, e.g. '0 0 */6 * * *' for every 6 hours"
)
_QUOTED = 80  # characters of the expression a message repeats
_SHOWN = 24  # characters of one field or number a message repeats
# Go's unicode.IsSpace, on which strings.Fields splits; Python's str.split also splits on
# \x1c-\x1f, which the backend reads as part of a field.
_SPACE = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_NUMBER = re.compile(r"\+?([0-9]+)")  # strconv.Atoi of a string without '-'
_INT64_MAX = 2**63 - 1
_TOO_LARGE = 2**63  # any number strconv.Atoi refuses as out of range
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EVERY = "@every "
_ALONE = ": a descriptor such as @hourly is read only alone, without spaces around it"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_LONGEST_MONTH = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}  # else 31
# time.ParseDuration's units, in nanoseconds.
_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_SECOND = 10**9


class _Refused(Exception):
    """What the backend would refuse (or misread) in an expression, as the message's tail."""


@dataclass(frozen=True)
class _Field:
    """One of the six positions: its name, its bounds and the names it also reads."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # the values low, low + 1, ... by name

    def allowed(self) -> str:
        """The field's range as a message gives it."""
        named = f" or {self.names[0].upper()}-{self.names[-1].upper()}" if self.names else ""
        return f"{self.low}-{self.high}{named}"


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 6, _WEEKDAYS),
)


@dataclass(frozen=True)
class _Values:
    """The values a field names, and whether it was written with ``*`` or ``?``.

    The star matters for the days: robfig/cron runs on a day when day-of-month AND day-of-week
    match if either was starred, and when either matches otherwise.
    """

    values: frozenset[int]
    star: bool


def check_cron(expression: str) -> str:
    """``expression`` when the pipelines backend reads it as written, else a ConfigurationError.

    The error names the field at fault and what it allows; it repeats at most a short,
    escaped prefix of the expression, which may be anything a user typed.
    """
    try:
        if expression[:1] == "@":
            _check_descriptor(expression)
        else:
            _check_fields(expression)
    except _Refused as problem:
        raise ConfigurationError(
            f"cron {_quote(expression, _QUOTED)}{problem}", hint=HINT
        ) from None
    return expression


def _check_fields(expression: str) -> None:
    """Refuse, as ``_Refused``, what the backend refuses or misreads in a field expression."""
    fields = [f for f in _SPACE.split(expression) if f]
    if not fields:
        raise _Refused(" is empty")
    if fields[0].startswith("@"):
        raise _Refused(_ALONE)
    if len(fields) == 5:
        raise _Refused(_five_fields(fields))
    if len(fields) != 6:
        year = " (the pipelines API reads no year field)" if len(fields) == 7 else ""
        count = f"{len(fields)} field" + ("s" if len(fields) > 1 else "")
        raise _Refused(f" is not a 6-field cron expression: it has {count}{year}")
    values = [_field(text, field) for text, field in zip(fields, _FIELDS, strict=True)]
    _check_some_day(values[3], values[4], values[5])


def _five_fields(fields: list[str]) -> str:
    """The message for 5 fields: the backend would take the first for the seconds."""
    message = " is not a 6-field cron expression (that is a 5-field cron: put the seconds first"
    suggestion = "0 " + " ".join(fields)
    try:
        _check_fields(suggestion)
    except _Refused as problem:
        return f"{message}; then{str(problem).removeprefix(':')})"
    return f"{message}, e.g. {_quote(suggestion, _QUOTED)})"


def _field(text: str, field: _Field) -> _Values:
    """The values of one field: a comma list of items, the empty ones skipped."""
    items = [item for item in text.split(",") if item]
    if not items:  # the backend reads no value: no date, or for a day field, the other one's
        day = field.name in ("day-of-month", "day-of-week")
        never = "" if day else ", so the schedule never runs"
        raise _Refused(f": {field.name} {_quote(text, _SHOWN)} names no value{never}")
    values: set[int] = set()
    star = False
    for item in items:
        item_values, item_star = _item(item, field)
        values |= item_values
        star = star or item_star
    return _Values(frozenset(values), star)


def _item(item: str, field: _Field) -> tuple[frozenset[int], bool]:
    """The values of ``*``, ``?``, ``N`` or ``N-M``, with an optional ``/S``."""
    span, *steps = item.split("/")
    if len(steps) > 1:
        raise _Refused(f": {field.name} {_show(item)} has more than one '/'")
    bounds = span.split("-")
    star = bounds[0] in ("*", "?")
    if star and len(bounds) > 1:
        raise _Refused(f": {field.name} {_show(item)}: the pipelines API reads it as '*'")
    if len(bounds) > 2:
        raise _Refused(f": {field.name} {_show(item)} has more than one '-'")
    if star:
        start, end = field.low, field.high
    else:
        start = end = _value(bounds[0], field)
        if len(bounds) == 2:
            end = _value(bounds[1], field)
    step = _step(steps[0], field) if steps else 1
    if steps and len(bounds) == 1:
        end = field.high  # "N/S" is "N-max/S"
    if start > end:
        raise _Refused(f": {field.name} range {_show(span)} runs backwards")
    return frozenset(range(start, end + 1, step)), star


def _value(text: str, field: _Field) -> int:
    """A bound of a range: a number or, for the month and the day of week, a name."""
    lowered = text.replace("\u0130", "i").lower()  # Go's ToLower maps 'İ' to 'i' alone
    if lowered in field.names:
        return field.low + field.names.index(lowered)
    number = _number(text)
    if number is None:
        also = f" nor one of {field.allowed().split(' or ')[1]}" if field.names else ""
        quartz = "#" in text or text.upper().endswith(("L", "W"))
        note = " (the pipelines API's cron has no L, W or #)" if quartz else ""
        raise _Refused(f": {field.name} {_show(text)} is not a number{also}{note}")
    if not field.low <= number <= field.high:
        sunday = " (Sunday is 0)" if field.names == _WEEKDAYS and number == 7 else ""
        raise _Refused(f": {field.name} {_show(text)} is outside {field.allowed()}{sunday}")
    return number


def _step(text: str, field: _Field) -> int:
    """The ``S`` of ``/S``: a positive number, never a name."""
    step = _number(text)
    if step is None:
        raise _Refused(f": {field.name} step {_show(text)} is not a number")
    if step == 0:
        raise _Refused(f": {field.name} step 0: a step must be at least 1")
    if step == _TOO_LARGE:
        raise _Refused(f": {field.name} step {_show(text)} is past 2**63-1, the backend's limit")
    return step


def _number(text: str) -> int | None:
    """``text`` as Go's strconv.Atoi reads it: None if not a number, 2**63 if past its range.

    Leading zeros are stripped before Python's int(), whose digit limit a long field would hit;
    past 19 digits the number is past Atoi's range, which the backend refuses too.
    """
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    digits = match[1].lstrip("0") or "0"
    return min(int(digits), _TOO_LARGE) if len(digits) <= 19 else _TOO_LARGE


def _check_some_day(days: _Values, months: _Values, weekdays: _Values) -> None:
    """Refuse day fields under which robfig/cron finds no next date: its Next then returns the
    zero time, on which the controller starts a run at once or, without catch-up, loops.

    It ANDs the two day fields when either is starred, else ORs them (any day of week comes in
    every month). ANDed, a day of month none of the months has never comes; the rest is looked
    for as Next does, from today to the end of the fifth year after (no further).
    """
    if not (days.star or weekdays.star):
        return
    if min(days.values) > max(_LONGEST_MONTH.get(m, 31) for m in months.values):
        named = ",".join(_MONTHS[m - 1].upper() for m in sorted(months.values))
        raise _Refused(
            f": day-of-month {min(days.values)} and later never come in {named}, "
            "so the schedule never runs"
        )
    today = _today()
    for year, month in itertools.product(range(today.year, today.year + 6), months.values):
        last = calendar.monthrange(year, month)[1]
        dates = (dt.date(year, month, day) for day in days.values if day <= last)
        if any(d >= today and d.isoweekday() % 7 in weekdays.values for d in dates):
            return
    raise _Refused(
        ": no date from today to the end of the fifth year after has these day-of-month, month "
        "and day-of-week, and the backend looks no further, so the schedule never runs"
    )


def _today() -> dt.date:
    """Today in UTC, the controller's time zone unless its CRON_SCHEDULE_TIMEZONE says else."""
    return dt.datetime.now(dt.UTC).date()


def _check_descriptor(expression: str) -> None:
    """Refuse, as ``_Refused``, a descriptor the backend does not know or would misread."""
    if expression in _DESCRIPTORS:
        return
    if not expression.startswith(_EVERY):
        if _SPACE.fullmatch(expression[-1]):
            raise _Refused(_ALONE)
        known = ", ".join(_DESCRIPTORS)
        raise _Refused(
            f" is not a descriptor the pipelines API knows: {known} or '@every <duration>', "
            "alone and in lower case"
        )
    nanoseconds = _duration(expression.removeprefix(_EVERY))
    if nanoseconds < _SECOND:
        raise _Refused(
            ": @every takes at least 1s (the pipelines API runs a shorter one every second)"
        )
    if nanoseconds % _SECOND:
        raise _Refused(": @every takes whole seconds (the pipelines API drops the fraction)")


def _duration(text: str) -> int:
    """Go's time.ParseDuration of ``text``, in nanoseconds; ``_Refused`` where it refuses it."""
    refused = _Refused(
        ": @every takes a Go duration such as 90s, 45m or 1h30m (units h, m, s, ms, us, ns; "
        f"no d), not {_show(text)}"
    )
    negative = text[:1] == "-"
    at = 1 if text[:1] in ("+", "-") else 0
    if text[at:] == "0":
        return 0
    if at == len(text):
        raise refused
    total = 0
    while at < len(text):
        match = _DURATION_PART.match(text, at)
        assert match is not None  # each part of the pattern may be empty
        total += _duration_part(match[1], match[2], match[3], refused)
        if total > 2**63:
            raise refused
        at = match.end()
    if not negative and total > _INT64_MAX:
        raise refused
    return -total if negative else total


# One ``[0-9]*(.[0-9]*)?unit`` of a duration: the unit runs to the next digit or point.
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def _duration_part(whole: str, fraction: str | None, unit: str, refused: _Refused) -> int:
    """One part of a duration in nanoseconds, as Go adds it up (the fraction in floats)."""
    if not whole and not fraction:
        raise refused  # no digit before or after the point
    scale = _UNITS.get(unit)
    if scale is None:
        raise refused  # no unit, or one Go does not know
    digits = whole.lstrip("0") or "0"
    if len(digits) > 19 or int(digits) > 2**63 // scale:
        raise refused
    value = int(digits) * scale
    if fraction:
        kept, divisor = _fraction(fraction)
        value += int(float(kept) * (float(scale) / divisor))
        if value > 2**63:
            raise refused
    return value


def _fraction(digits: str) -> tuple[int, float]:
    """The digits after the point that Go keeps (it stops before they pass 2**63), and 10 to
    their count, multiplied up in floats as Go does."""
    kept, divisor = 0, 1.0
    for digit in digits:
        following = kept * 10 + int(digit)
        if kept > _INT64_MAX // 10 or following > 2**63:
            break
        kept, divisor = following, divisor * 10
    return kept, divisor


def _quote(text: str, limit: int) -> str:
    """``text`` quoted, its control characters escaped, cut to ``limit`` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _show(text: str) -> str:
    """A piece of a field: as written when short and plain, else quoted like ``_quote``."""
    if 0 < len(text) <= _SHOWN and text.isascii() and text.isprintable() and " " not in text:
        return text
    return _quote(text, _SHOWN)
