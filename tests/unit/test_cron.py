"""A recurring run's cron is checked as robfig/cron v1.2.0's ``cron.Parse`` reads it, the parser
of the pipelines API server and of the ScheduledWorkflow controller: what it refuses is refused
here before any request, in one line naming the field and what it allows; what it would misread
(5 fields, ``*-N``, a schedule with no next date, ``@every`` under a second) is refused too.

The tables were built from parser.go and spec.go at robfig/cron v1.2.0 and, while they were
written, checked one by one against that parser built with Go (``llama_rollout.cron`` says
which files and commits).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_rollout import cron
from llama_rollout.cron import HINT, check_cron
from llama_rollout.errors import ConfigurationError

# (name, low, high, names) of the six fields, as spec.go bounds them.
FIELDS = [
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                      "NOV", "DEC")),
    ("day-of-week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
]  # fmt: skip
EVERY_FIELD = "* * * * * *"


def with_field(position: int, text: str) -> str:
    """``EVERY_FIELD`` with the field at ``position`` replaced by ``text``."""
    fields = EVERY_FIELD.split()
    fields[position] = text
    return " ".join(fields)


def refusal(expression: str) -> str:
    """The one-line message check_cron refuses ``expression`` with."""
    with pytest.raises(ConfigurationError) as caught:
        check_cron(expression)
    assert caught.value.hint == HINT
    return caught.value.message


ACCEPTED = [
    # each field at both of its bounds
    *(with_field(i, str(low)) for i, (_, low, _, _) in enumerate(FIELDS)),
    *(with_field(i, str(high)) for i, (_, _, high, _) in enumerate(FIELDS)),
    "0 0 */6 * * *",  # the README's example
    "0 30 2 * * 1-5",
    "? ? ? ? ? ?",  # '?' is '*' in every field
    "0 0 0 1 1 *",  # @yearly spelled out
    # numbers as strconv.Atoi reads them: a '+', leading zeros
    "+0 +5 +23 +1 +12 +6",
    "00 0059 023 031 012 06",
    with_field(1, "0" * 5000 + "7"),  # 5000 digits: Python's int() would refuse them
    # ranges, steps, lists
    "0-59 0-59 0-23 1-31 1-12 0-6",
    "5-5 * * * * *",
    "*/1 */59 */23 */31 */12 */6",
    "*/60 */100 */9223372036854775807 * * *",  # a step past the range names the start only
    "5/15 * * * * *",  # N/S is N-max/S
    "0-30/10 * 9-17/2 * * *",
    "0,15,30,45 0 0 * * *",
    "1,,2 * * * * *",  # empty list items are skipped
    "1, * * * * *",
    ",1 * * * * *",
    "0 0 0 * * 0,6",
    # names, in the month and the day of week only, any case, in ranges and lists
    "0 0 0 * JAN *",
    "0 0 0 * dec *",
    "0 0 0 * Jan-Mar,jul *",
    "0 0 0 * * SUN",
    "0 0 0 * * sat",
    "0 0 0 * * Mon-Fri",
    "0 0 0 * * mon,WED,fri",
    "0 0 0 * * FR\u0130",  # Go lowers 'İ' to 'i'
    "0 0 0 * jan-dec/3 *",
    # whitespace as Go's strings.Fields splits it, anywhere around and between the fields
    "  0 0 */6 * * *  ",
    "0\t0\t*/6\t*\t*\t*",
    "0\n0 */6 * * *\n",
    "0\u00a00\u3000*/6 * *\u2003*",
    # days: only ANDed day fields must meet in some month
    "0 0 0 29 2 *",  # leap years have it
    "0 0 0 31 1,2 *",
    "0 0 0 30 2 1",  # ORed: every Monday of February, and never the 30th
    "0 0 0 31 4 MON-FRI",
    "0 0 0 13 * FRI",  # ORed: every 13th and every Friday
    # descriptors, alone and in lower case
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    "@every 1s",
    "@every 90s",
    "@every 45m",
    "@every 1h30m",
    "@every 1.5h",
    "@every 1h0.5m",
    "@every 2h45m30s",
    "@every 1000ms",
    "@every 1000000us",
    "@every 1000000\u00b5s",
    "@every 1000000\u03bcs",
    "@every 1000000000ns",
    "@every +1h",
    "@every 001m",
    "@every 2562047h",  # Go's largest whole number of hours
    "@every 9223372036s",  # Go's largest whole number of seconds
]


@pytest.mark.parametrize("expression", ACCEPTED)
def test_what_the_backend_reads_as_written_is_returned_unchanged(expression):
    assert check_cron(expression) == expression


REFUSED = [
    # each field one past each of its bounds
    ("60 * * * * *", r"second 60 is outside 0-59$"),
    ("0 60 * * * *", r"minute 60 is outside 0-59$"),
    ("0 75 * * * *", r"^cron '0 75 \* \* \* \*': minute 75 is outside 0-59$"),
    ("0 0 24 * * *", r"hour 24 is outside 0-23$"),
    ("0 0 0 0 * *", r"day-of-month 0 is outside 1-31$"),
    ("0 0 0 32 * *", r"day-of-month 32 is outside 1-31$"),
    ("0 0 0 * 0 *", r"month 0 is outside 1-12 or JAN-DEC$"),
    ("0 0 0 * 13 *", r"month 13 is outside 1-12 or JAN-DEC$"),
    ("0 0 0 * * 7", r"day-of-week 7 is outside 0-6 or SUN-SAT \(Sunday is 0\)$"),
    ("0 0 0 * * 1-7", r"day-of-week 7 is outside 0-6"),
    ("0 0 0 * * 8/2", r"day-of-week 8 is outside 0-6"),
    ("0 0 0 * 1,13 *", r"month 13 is outside"),
    ("0 9223372036854775807 * * * *", r"minute 9223372036854775807 is outside 0-59$"),
    ("0 9223372036854775808 * * * *", r"minute 9223372036854775808 is outside 0-59$"),
    ("0 " + "5" * 5000 + " * * * *", r"minute '5{24}'\.\.\. is outside 0-59$"),
    # no '-': a negative number is a range without a start
    ("-1 * * * * *", r"second '' is not a number$"),
    ("0 5- * * * *", r"minute '' is not a number$"),
    # steps
    ("0 */0 * * * *", r"minute step 0: a step must be at least 1$"),
    ("0 0-30/0 * * * *", r"minute step 0"),
    ("0 */ * * * *", r"minute step '' is not a number$"),
    ("0 /5 * * * *", r"minute '' is not a number$"),
    ("0 */x * * * *", r"minute step x is not a number$"),
    ("0 0 0 * */JAN *", r"month step JAN is not a number$"),  # a step is never a name
    ("0 */-1 * * * *", r"minute step -1 is not a number$"),
    ("0 */9223372036854775808 * * * *", r"minute step 9223372036854775808 is past 2\*\*63-1"),
    ("0 1/2/3 * * * *", r"minute 1/2/3 has more than one '/'$"),
    # ranges
    ("0 5-2 * * * *", r"minute range 5-2 runs backwards$"),
    ("0 0 0 * * FRI-MON", r"day-of-week range FRI-MON runs backwards$"),
    ("0 0 0 * DEC-JAN *", r"month range DEC-JAN runs backwards$"),
    ("0 1-2-3 * * * *", r"minute 1-2-3 has more than one '-'$"),
    ("0 60/5 * * * *", r"minute 60 is outside 0-59$"),  # N/S past the range's end
    # what the backend would read otherwise than written
    ("0 *-5 * * * *", r"minute \*-5: the pipelines API reads it as '\*'$"),
    ("0 ?-x * * * *", r"minute \?-x: the pipelines API reads it as '\*'$"),
    ("0 , * * * *", r"minute ',' names no value, so the schedule never runs$"),
    ("0 0 0 ,, * 1", r"day-of-month ',,' names no value$"),
    ("0 0 0 30 2 *", r"day-of-month 30 and later never come in FEB, so the schedule never runs$"),
    ("0 0 0 31 4,6,9,11 ?", r"day-of-month 31 and later never come in APR,JUN,SEP,NOV"),
    ("0 0 0 30-31 feb */2", r"day-of-month 30 and later never come in FEB"),
    # names: only the month's and the day of week's, only three letters
    ("0 0 0 * JANUARY *", r"month JANUARY is not a number nor one of JAN-DEC$"),
    ("0 0 0 * * MONDAY", r"day-of-week MONDAY is not a number nor one of SUN-SAT$"),
    ("0 0 0 * SUN *", r"month SUN is not a number nor one of JAN-DEC$"),
    ("0 0 0 * * JAN", r"day-of-week JAN is not a number nor one of SUN-SAT$"),
    ("0 0 0 JAN * *", r"day-of-month JAN is not a number$"),
    ("0 0 MON * * *", r"hour MON is not a number$"),
    # no Quartz extensions
    (
        "0 0 0 L * *",
        r"day-of-month L is not a number \(the pipelines API's cron has no L, W or #\)$",
    ),
    ("0 0 0 15W * *", r"day-of-month 15W is not a number \(.*no L, W or #\)$"),
    ("0 0 0 LW * *", r"no L, W or #"),
    ("0 0 0 * * 5L", r"day-of-week 5L is not a number nor one of SUN-SAT \(.*no L, W or #\)$"),
    ("0 0 0 * * 5#3", r"day-of-week 5#3 is not a number nor one of SUN-SAT \(.*no L, W or #\)$"),
    # numbers: ASCII digits only, no underscores, no hex, no Unicode digits
    ("0 1_0 * * * *", r"minute 1_0 is not a number$"),
    ("0 0x1 * * * *", r"minute 0x1 is not a number$"),
    ("0 \u0663 * * * *", r"minute '\u0663' is not a number$"),
    ("0 1.5 * * * *", r"minute 1\.5 is not a number$"),
    ("0 ++1 * * * *", r"minute \+\+1 is not a number$"),
    # Go splits on its own whitespace: \x1c-\x1f are part of a field, where Python splits
    ("0 0 0 * * *\x1c", r"day-of-week '\*\\x1c' is not a number"),
    ("0\x1f0 0 * * * *", r"second '0\\x1f0' is not a number$"),
    # field counts
    ("", r"^cron '' is empty$"),
    ("   \t\n", r"is empty$"),
    ("*", r"is not a 6-field cron expression: it has 1 field$"),
    ("0 0 * *", r"is not a 6-field cron expression: it has 4 fields$"),
    ("0 0 0 * * * 2027", r"it has 7 fields \(the pipelines API reads no year field\)$"),
    ("0 0 0 * * * * *", r"it has 8 fields$"),
    ("every 6 hours", r"it has 3 fields$"),
    # descriptors: alone, exact, lower case
    (
        "@HOURLY",
        r"is not a descriptor the pipelines API knows: @yearly, .*, @hourly or '@every <duration>', alone and in lower case$",
    ),
    ("@reboot", r"is not a descriptor the pipelines API knows"),
    ("@", r"is not a descriptor the pipelines API knows"),
    ("@every", r"is not a descriptor the pipelines API knows"),
    ("@every\t1h", r"is not a descriptor the pipelines API knows"),
    (" @hourly", r"a descriptor such as @hourly is read only alone, without spaces around it$"),
    ("@hourly ", r"read only alone, without spaces around it$"),
    ("@every 1h\n", r"not '1h\\n'$"),
    ("@hourly 0 0 * * *", r"is not a descriptor the pipelines API knows"),
    ("0 @hourly * * * *", r"minute @hourly is not a number$"),
    # @every: a Go duration, of at least one whole second
    (
        "@every ",
        r"@every takes a Go duration such as 90s, 45m or 1h30m \(units h, m, s, ms, us, ns; no d\), not ''$",
    ),
    ("@every 1d", r"no d\), not 1d$"),
    ("@every 1", r"not 1$"),  # no unit
    ("@every 1H", r"not 1H$"),
    ("@every 1h 30m", r"not '1h 30m'$"),
    ("@every  1h", r"not ' 1h'$"),
    ("@every h", r"not h$"),
    ("@every .s", r"not \.s$"),
    ("@every 1.s.", r"not 1\.s\.$"),
    ("@every 00", r"not 00$"),
    ("@every +-1h", r"not \+-1h$"),
    ("@every 2562048h", r"not 2562048h$"),  # past 2**63-1 ns
    ("@every 9223372037s", r"not 9223372037s$"),
    ("@every 9223372036854775808ns", r"not 9223372036854775808ns$"),
    ("@every 99999999999999999999ns", r"not 99999999999999999999ns$"),
    (
        "@every 0",
        r"@every takes at least 1s \(the pipelines API runs a shorter one every second\)$",
    ),
    ("@every 0s", r"takes at least 1s"),
    ("@every -1h", r"takes at least 1s"),
    ("@every -0", r"takes at least 1s"),
    ("@every 999ms", r"takes at least 1s"),
    ("@every 0.5s", r"takes at least 1s"),
    ("@every 1.5s", r"@every takes whole seconds \(the pipelines API drops the fraction\)$"),
    ("@every 1s1ns", r"takes whole seconds"),
    ("@every 1.0000000001h", r"takes whole seconds"),
]


@pytest.mark.parametrize(("expression", "message"), REFUSED)
def test_what_the_backend_refuses_or_misreads_is_refused_naming_the_field(expression, message):
    assert re.search(message, refusal(expression))


def test_five_fields_are_refused_with_the_seconds_put_first():
    """The backend would read '0 */6 * * *' as second 0, minute */6: every 6 minutes."""
    assert refusal("0 */6 * * *") == (
        "cron '0 */6 * * *' is not a 6-field cron expression (that is a 5-field cron: "
        "put the seconds first, e.g. '0 0 */6 * * *')"
    )
    assert refusal(" 30  2 * *\t1-5 ").endswith("e.g. '0 30 2 * * 1-5')")


def test_five_fields_that_are_wrong_once_the_seconds_are_put_first_say_what_is_wrong():
    assert refusal("75 * * * *") == (
        "cron '75 * * * *' is not a 6-field cron expression (that is a 5-field cron: "
        "put the seconds first; then minute 75 is outside 0-59)"
    )
    assert refusal("0 0 * * 7").endswith(
        "; then day-of-week 7 is outside 0-6 or SUN-SAT (Sunday is 0))"
    )


@pytest.mark.parametrize(
    "expression",
    ["x" * 100_000, "0 " * 50_000, "0 " + "9" * 100_000 + " * * * *", "@every " + "9" * 100_000 + "h",
     "0 0 0 * * " + "MONDAY" * 20_000, "0 " + "," * 100_000 + " * * * *",
     "0 0 0 " + "1-31/1," * 15_000 + "32 * 1", "\x00\x1b[2J" * 30_000],
)  # fmt: skip
def test_a_huge_value_is_refused_in_a_short_line_that_escapes_what_it_quotes(expression):
    message = refusal(expression)
    assert len(message) < 400
    assert message.startswith("cron " + repr(expression[:80]) + "...")
    assert message.isprintable()


def test_control_characters_are_quoted_escaped():
    assert refusal("\x1b[31m0 0 0 * * *").startswith(r"cron '\x1b[31m0 0 0 * * *': second ")


def test_a_long_valid_expression_is_returned_unchanged():
    """Long lists and leading zeros are the backend's to read; the check does not cap them."""
    expression = "0 " + ",".join(str(m % 60) for m in range(20_000)) + " 00000000000000000001 * * *"
    assert check_cron(expression) == expression


@pytest.mark.parametrize(
    ("today", "accepted"),
    [
        (dt.date(2026, 12, 6), False),  # the next Sunday January 1st is in 2034
        (dt.date(2028, 12, 31), False),
        (dt.date(2029, 1, 1), True),  # Next looks to the end of 2034
        (dt.date(2034, 1, 1), True),
        (dt.date(2034, 1, 2), False),  # then 2040
    ],
)
def test_anded_day_fields_must_meet_within_the_years_the_backend_looks_ahead(
    monkeypatch, today, accepted
):
    """robfig/cron's Next gives up after the fifth year on: the controller then starts a run at
    once or, without catch-up, loops; so a day it would not find is refused."""
    monkeypatch.setattr(cron, "_today", lambda: today)
    expression = "0 0 0 */31 1 SUN"  # */31 starts the day field with '*': the days are ANDed
    if accepted:
        assert check_cron(expression) == expression
    else:
        assert refusal(expression).endswith(
            ": no date from today to the end of the fifth year after has these day-of-month, "
            "month and day-of-week, and the backend looks no further, so the schedule never runs"
        )


def test_ored_day_fields_need_no_date_search(monkeypatch):
    """Neither day field starred: any day of week comes in every month."""
    monkeypatch.setattr(cron, "_today", lambda: pytest.fail("looked for a date"))
    assert check_cron("0 0 0 1 1 SUN") == "0 0 0 1 1 SUN"


# Valid pieces of each field, from the parser's grammar: numbers (with a '+' or leading zeros),
# names, '*' and '?', ranges and steps.
@st.composite
def valid_item(draw, position: int) -> str:
    _, low, high, names = FIELDS[position]

    def bound(value: int) -> str:
        if names and draw(st.booleans()):
            name = names[value - low]
            return draw(st.sampled_from([name, name.lower(), name.title()]))
        return draw(st.sampled_from(["", "+", "0", "00"])) + str(value)

    start = draw(st.integers(low, high))
    kind = draw(st.sampled_from(["star", "value", "range"]))
    if kind == "star":
        item = draw(st.sampled_from(["*", "?"]))
    elif kind == "value":
        item = bound(start)
    else:
        item = bound(start) + "-" + bound(draw(st.integers(start, high)))
    if draw(st.booleans()):
        item += "/" + str(draw(st.integers(1, 100)))
    return item


@st.composite
def valid_expression(draw) -> str:
    fields = [",".join(draw(st.lists(valid_item(i), min_size=1, max_size=3))) for i in range(6)]
    if draw(st.booleans()):
        fields[3] = draw(st.sampled_from(["*", "?", "1-28", "*/7"]))  # days every month has
    spaces = st.sampled_from([" ", "  ", "\t", "\u3000"])
    return draw(st.sampled_from(["", " ", "\t"])) + "".join(f + draw(spaces) for f in fields)


@settings(max_examples=300, deadline=None)
@given(valid_expression())
def test_any_expression_of_the_parsers_grammar_is_accepted_unless_it_never_runs(expression):
    try:
        assert check_cron(expression) == expression
    except ConfigurationError as exc:
        assert "never" in exc.message, exc.message


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_number_outside_a_field_is_refused_naming_the_field_and_its_bounds(data):
    position = data.draw(st.integers(0, 5), label="position")
    name, low, high, names = FIELDS[position]
    outside = st.integers(high + 1, 10**30) | (st.just(0) if low else st.nothing())
    number = str(data.draw(outside, label="number"))
    shown = number if len(number) <= 24 else repr(number[:24]) + "..."
    named = f" or {names[0]}-{names[-1]}" if names else ""
    for text in (number, f"{low}-{number}", f"{number}/2", f"*/5,{number}"):
        message = refusal(with_field(position, text))
        assert f": {name} {shown} is outside {low}-{high}{named}" in message


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("0123456789*?/,-@ \t\x1cLW#JANmonFRIevryhsd.+"), max_size=40)
)
def test_any_text_is_returned_unchanged_or_refused_in_one_short_line(expression):
    try:
        assert check_cron(expression) == expression
    except ConfigurationError as exc:
        assert exc.message.startswith("cron " + repr(expression[:80]))
        assert len(exc.message) < 400
        assert "\n" not in exc.message
