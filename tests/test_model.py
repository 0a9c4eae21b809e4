"""Validation of input models, Secret, Headers and the filter."""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest

import gateway.model as model
from gateway import FailureHandling, Headers, InvalidRequest, ListFilter, Secret, Webhook
from gateway.model import (
    UNSET,
    AlertEndpoint,
    RetryStrategy,
    WebhookChange,
    WebhookSpec,
    event_name_problem,
    name_set,
    text_problem,
)


@pytest.mark.parametrize(
    ("values", "path", "fragment"),
    [
        ({"name": "", "url": "https://a.example"}, "name", "must not be empty"),
        ({"name": "   ", "url": "https://a.example"}, "name", "must not be empty"),
        ({"name": "n", "url": "ftp://a.example/x"}, "url", "http:// or https://"),
        ({"name": "n", "url": "/relative/path"}, "url", "http:// or https://"),
        ({"name": "n", "url": "https://"}, "url", "host"),
        ({"name": "n", "url": "https://a.example/" + "x" * 2000}, "url", "at most 2000"),
        ({"name": "n", "url": "https://a.example/a b"}, "url", "white space"),
        (
            {"name": "n", "url": "https://a.example", "events": {""}},
            "events.0",
            "must not be empty",
        ),
        (
            {"name": "n", "url": "https://a.example", "events": {" job.started"}},
            "events.0",
            "white space",
        ),
        (
            {"name": "n", "url": "https://a.example", "headers": {"Bad Name": "v"}},
            "headers.Bad Name",
            "header name",
        ),
        (
            {"name": "n", "url": "https://a.example", "headers": {"X-A": "a\r\nb"}},
            "headers.X-A.0",
            "control characters",
        ),
    ],
)
def test_spec_rejects_bad_input_with_its_path(
    values: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        WebhookSpec(**values)
    assert [p.path for p in caught.value.problems] == [path]
    assert fragment in caught.value.problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidRequest) as caught:
        WebhookSpec(name="", url="mailto:x", events={""})
    assert {p.path for p in caught.value.problems} == {"name", "url", "events.0"}


def test_url_of_exactly_2000_characters_is_accepted() -> None:
    url = "https://a.example/" + "x" * (2000 - len("https://a.example/"))
    assert WebhookSpec(name="n", url=url).url == url


def test_a_lone_event_string_is_one_event() -> None:
    assert WebhookSpec(name="n", url="https://a.example", events="job.started").events == {
        "job.started"
    }


def test_change_validates_what_it_sets() -> None:
    with pytest.raises(InvalidRequest) as caught:
        WebhookChange(url="nope", add_events={""}, remove_headers={""})
    assert {p.path for p in caught.value.problems} == {"url", "add_events.0", "remove_headers.0"}
    assert WebhookChange().is_empty
    assert WebhookChange(description=None).set_fields() == {"description"}
    assert WebhookChange(name=UNSET).is_empty


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"triggers": {"4xx", "teapot"}}, "triggers"),
        # Socotra's webhooks guide: 400- or 500-level codes, 4xx, 5xx or timeout; not a success
        # or a redirect.
        ({"triggers": {"200"}}, "triggers"),
        ({"triggers": {"302"}}, "triggers"),
        (
            {"retry_strategy": RetryStrategy(attempts=11)},
            "retry_strategy.attempts",
        ),
        ({"retry_strategy": RetryStrategy(attempts=0)}, "retry_strategy.attempts"),
        ({"alert_endpoint": "https://a.example.com/bare-string"}, "alert_endpoint"),
        ({"alert_endpoint": AlertEndpoint(url="not a url")}, "alert_endpoint.url"),
        (
            {"alert_endpoint": AlertEndpoint(url="https://a.example.com", secret=" ")},
            "alert_endpoint.secret",
        ),
        (
            {"alert_endpoint": AlertEndpoint(url="https://a.example.com", headers={"a b": "1"})},
            "alert_endpoint.headers.a b",
        ),
    ],
)
def test_failure_handling_is_validated(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        FailureHandling(**kwargs)
    assert caught.value.problems[0].path == path


def test_failure_handling_default_is_the_documented_one() -> None:
    fh = FailureHandling()
    assert fh.triggers == {"4xx", "5xx", "timeout"}
    assert (fh.divert, fh.suspend, fh.retry_strategy, fh.alert_endpoint) == (
        False,
        False,
        None,
        None,
    )
    assert FailureHandling(triggers={"503", "timeout"}).triggers == {"503", "timeout"}


def test_secret_never_shows_its_value() -> None:
    s = Secret("hunter2-value")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", f"{s:>20}", repr([s]), repr({"k": s})):
        assert "hunter2" not in text
    assert s.reveal() == "hunter2-value"
    assert s == Secret("hunter2-value") and s != Secret("other")
    assert hash(s) == hash(Secret("hunter2-value"))
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_webhook_and_spec_reprs_hide_the_secret() -> None:
    spec = WebhookSpec(name="n", url="https://a.example", secret="hunter2-value")
    wh = spec.to_webhook("1")
    for text in (
        repr(spec),
        repr(wh),
        str(attrs.asdict(wh)),
        repr(WebhookChange(secret="hunter2-value")),
    ):
        assert "hunter2" not in text
    assert isinstance(wh.secret, Secret)


def test_headers_are_immutable_and_hashable() -> None:
    h = Headers({"X-A": "1", "X-B": ["2", "3"]})
    assert h == {"X-A": ("1",), "X-B": ("2", "3")}
    assert hash(h) == hash(Headers({"X-B": ("2", "3"), "X-A": ("1",)}))
    with pytest.raises(TypeError):
        h["X-C"] = ("4",)  # type: ignore[index]
    wh = Webhook(id="1", name="n", url="https://a.example", headers={"X-A": "1"})
    assert hash(wh) == hash(attrs.evolve(wh))
    # The mapping's views and look-ups are the dict's (fast), and change nothing.
    assert list(h.items()) == [("X-A", ("1",)), ("X-B", ("2", "3"))]
    assert list(h.keys()) == ["X-A", "X-B"] and list(h.values()) == [("1",), ("2", "3")]
    assert "X-A" in h and "X-C" not in h and h.get("X-C", ()) == () and h.get("X-A") == ("1",)
    assert not hasattr(h.items(), "pop") and dict(h) == dict(h.items())


def test_list_filter_matches() -> None:
    wh = Webhook(id="1", name="n", url="https://a.example", events={"job.completed"}, enabled=False)
    assert ListFilter().matches(wh)
    assert ListFilter(event="JOB.Completed").matches(wh)
    assert not ListFilter(event="job.faulted").matches(wh)
    assert ListFilter(event="job.faulted").matches(attrs.evolve(wh, all_events=True))
    assert ListFilter(enabled=False, name="n", url="https://a.example").matches(wh)
    assert not ListFilter(enabled=True).matches(wh)
    assert not ListFilter(suspended=True).matches(wh)
    assert not ListFilter(name="N").matches(wh)


@pytest.mark.parametrize(
    ("code", "unfit"),
    [(0x00, "control"), (0x1F, "control"), (0x20, None), (0x7E, None), (0x7F, "control"),
     (0x9F, "control"), (0xA0, None), (0xD7FF, None), (0xD800, "surrogate"),
     (0xDFFF, "surrogate"), (0xE000, None), (0x10FFFF, None)],
)  # fmt: skip
def test_text_is_refused_at_its_first_unfit_character(code: int, unfit: str | None) -> None:
    problem = text_problem("ok" + chr(code) + "\x00")
    if unfit is None:
        assert problem == "must not contain control characters (U+0000 at 3)"
    else:
        assert problem is not None and unfit in problem and f"U+{code:04X} at 2" in problem


@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u2003", "\u3000", "\x1c"])
def test_an_event_name_holds_no_white_space_of_any_kind(space: str) -> None:
    assert "white space" in (event_name_problem(f"job{space}started") or "")
    assert event_name_problem("job.started") is None


def test_small_name_sets_are_one_shared_object_each_and_the_sharing_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records that take the same few events hold one set between them (a plan keeps
    thousands); a large set is its own; the table of shared sets stays bounded."""
    a = WebhookSpec(name="a", url="https://x.example/a", events=["job.completed", "job.started"])
    b = WebhookSpec(name="b", url="https://x.example/b", events=("job.started", "job.completed"))
    assert a.events == b.events and a.events is b.events
    assert name_set("job.completed") == frozenset({"job.completed"})  # one name, not letters
    many = [f"e{i}" for i in range(40)]
    assert name_set(many) == frozenset(many) and name_set(many) is not name_set(many)
    monkeypatch.setattr(model, "_SHARED_SETS", 3)
    for i in range(10):
        name_set([f"only-{i}"])
    assert len(model._shared_sets) <= 3
