"""Apollo's phone webhook: reading its payload, and the view that receives it.

``POST /api/providers/apollo/phones/<token>`` — Apollo posts here the numbers of a phone reveal
(:mod:`providers.adapters.apollo`, ``Operation.FIND_PHONE``). No session, no CSRF: Apollo has
neither and signs nothing, so the unguessable token in the path is the authentication, checked
against the hash stored by :mod:`providers.reveals`, which holds all the state changes.

Answers (JSON; errors are ``{"error": code, "message": text}`` like every API here):
200 stored (or the same payload again: Apollo retries, so a repeat is a success that changes
nothing), 404 unknown token, 409 already received with another payload, 400 not JSON,
413 body over :data:`MAX_BODY_BYTES`, 422 a payload about another person, 410 the reveal
expired (pending for over 24 h), 405 not a POST.
The application logs neither the token nor a number: Django's request log, which would print
the path, is skipped for every answer this view gives, failures included (500). The web
server's access log (daphne's, a proxy's) does see the path: drop or mask
``/api/providers/apollo/phones/`` there in production. A logged token lets its holder post
numbers for that one reveal until it is answered or expires (24 h).

**The payload's shape is not in the documentation we have.** Apollo's people enrichment
reference (https://docs.apollo.io/reference/people-enrichment) links "native webhook response
details", and https://docs.apollo.io/docs/retrieve-mobile-phone-numbers-for-contacts says the
results go to the webhook, but the stored copies show no payload. :func:`phones_from_webhook`
reads the shape Apollo uses for people elsewhere and accepts the plausible variants: a
``people[]`` list (the bulk form), a single ``person`` or ``matches[]``, optionally under
``data``; each person's ``phone_numbers[]`` and ``contact.phone_numbers[]``; each number's
``sanitized_number`` (else ``raw_number`` / ``number``), ``type_cd`` (else ``type``) and
``status_cd`` (else ``status``), with ``position`` as Apollo's own order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from providers import reveals
from providers.adapters.apollo import MOBILE_CREDITS
from providers.adapters.values import (
    first_str,
)
from providers.reveals import DeliveryOutcome
from providers.transforms import phone_e164, pick_phone

logger = logging.getLogger(__name__)

#: One person's numbers (or ten, in the bulk form, with their records) fit well below this.
MAX_BODY_BYTES = 256 * 1024

#: Confidence of a number by Apollo's type (``type_cd``), before its status adjusts it.
_PHONE_TYPE_CONFIDENCE = (
    (("mobile", "cell"), 80),
    (("direct",), 70),
    (("hq", "company", "corporate", "office", "switchboard"), 45),
)
_OTHER_PHONE_CONFIDENCE = 60
_PHONE_STATUS_ADJUST = {"valid_number": 10, "verified": 10, "valid": 10}
_INVALID_PHONE_STATUSES = frozenset({"invalid_number", "invalid", "wrong_number"})


@dataclass(frozen=True)
class PhoneDelivery:
    """What one webhook call gave: canonical phone fields and the credits Apollo bills for them.

    ``fields`` maps ``mobile_phone`` / ``phone`` to ``{"value", "confidence", "type", "status"}``
    (JSON-ready); it is empty when Apollo found no number.
    """

    fields: dict[str, dict[str, Any]]
    credits: int


def phones_from_webhook(payload: Any, *, person_id: str | None) -> PhoneDelivery | None:
    """Read Apollo's phone webhook for the person ``person_id`` (``None`` if not known yet).

    ``None`` when the payload names no such person (another person, or several and we cannot
    tell which): the caller refuses it and changes nothing. Numbers are normalised to E.164;
    those Apollo marks invalid are left out. See the module docstring for the shapes accepted.
    """
    person = _webhook_person(_webhook_people(payload), person_id)
    if person is None:
        return None
    contact = person.get("contact") if isinstance(person.get("contact"), Mapping) else {}
    entries = [*_as_list(person.get("phone_numbers")), *_as_list(contact.get("phone_numbers"))]
    candidates: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        candidate = _phone_candidate(entry, index)
        if candidate is None:
            continue
        seen = candidates.get(candidate["value"])
        if seen is None or candidate["confidence"] > seen["confidence"]:
            candidates[candidate["value"]] = candidate
    ranked = sorted(candidates.values(), key=lambda c: (-c["confidence"], c["order"]))
    mobiles = [c for c in ranked if c["mobile"]]
    fields: dict[str, dict[str, Any]] = {}
    # pick_phone prefers a work line among the rest: the canonical ``phone`` is a work number.
    for name, group in (
        ("mobile_phone", mobiles),
        ("phone", [c for c in ranked if c not in mobiles]),
    ):
        number = pick_phone([{"number": c["value"], "type": c["type"]} for c in group])
        chosen = next((c for c in group if c["value"] == number), None)
        if chosen is not None:
            fields[name] = {k: chosen[k] for k in ("value", "confidence", "type", "status")}
    return PhoneDelivery(fields=fields, credits=MOBILE_CREDITS if "mobile_phone" in fields else 0)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _webhook_people(payload: Any) -> list[Mapping[str, Any]]:
    body = payload
    if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping | list):
        body = body["data"]
    if isinstance(body, list):
        people = body
    elif not isinstance(body, Mapping):
        people = []
    elif isinstance(body.get("people"), list):
        people = body["people"]
    elif isinstance(body.get("matches"), list):
        people = body["matches"]
    elif isinstance(body.get("person"), Mapping):
        people = [body["person"]]
    elif "phone_numbers" in body:
        people = [body]
    else:
        people = []
    return [p for p in people if isinstance(p, Mapping)]


def _webhook_person(
    people: list[Mapping[str, Any]], person_id: str | None
) -> Mapping[str, Any] | None:
    def ident(person: Mapping[str, Any]) -> str | None:
        value = person.get("id", person.get("person_id"))
        return str(value) if isinstance(value, str | int) and str(value) else None

    if person_id:
        for person in people:
            if ident(person) == person_id:
                return person
    if len(people) == 1 and (not person_id or ident(people[0]) in (None, person_id)):
        return people[0]  # the one person of a single reveal, not yet (or not) identified
    return None


def _phone_candidate(entry: Any, index: int) -> dict[str, Any] | None:
    if isinstance(entry, str):
        entry = {"raw_number": entry}
    if not isinstance(entry, Mapping):
        return None
    text = first_str(entry.get("sanitized_number"), entry.get("raw_number"), entry.get("number"))
    kind = (first_str(entry.get("type_cd"), entry.get("type")) or "").lower()
    status = (first_str(entry.get("status_cd"), entry.get("status")) or "").lower()
    if text is None or status in _INVALID_PHONE_STATUSES:
        return None
    value, penalty = phone_e164(text)
    if value is None:
        return None
    base = next(
        (score for words, score in _PHONE_TYPE_CONFIDENCE if any(w in kind for w in words)),
        _OTHER_PHONE_CONFIDENCE,
    )
    position = entry.get("position")
    return {
        "value": value,
        "confidence": max(0, min(100, base + _PHONE_STATUS_ADJUST.get(status, 0) - penalty)),
        "type": kind or None,
        "status": status or None,
        "mobile": any(w in kind for w in ("mobile", "cell")),
        "order": (position if isinstance(position, int) else 1_000, index),
    }


# --- the view ---------------------------------------------------------------------------------

_ANSWERS: dict[DeliveryOutcome, tuple[int, str, str]] = {
    DeliveryOutcome.UNKNOWN: (404, "not_found", "No phone reveal is waiting at this address."),
    DeliveryOutcome.MALFORMED: (400, "malformed_json", "The body is not a JSON object."),
    DeliveryOutcome.CONFLICT: (
        409,
        "already_received",
        "This phone reveal already received other numbers.",
    ),
    DeliveryOutcome.EXPIRED: (
        410,
        "expired",
        "This phone reveal expired; it takes no delivery.",
    ),
    DeliveryOutcome.WRONG_PERSON: (
        422,
        "wrong_person",
        "The payload names no phone numbers for the person this reveal is for.",
    ),
}


@csrf_exempt  # Apollo cannot send a CSRF token; the path token authenticates (module docstring)
def apollo_phone_webhook(request: HttpRequest, token: str) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Use POST.")
        response["Allow"] = "POST"
        return response
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad_request", "The Content-Length header is not a number.")
    if declared > MAX_BODY_BYTES:
        return _error(413, "too_large", f"The body is over {MAX_BODY_BYTES} bytes.")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "too_large", f"The body is over {MAX_BODY_BYTES} bytes.")

    try:
        delivery = reveals.phone_reveal_receive(token=token, body=body, read=phones_from_webhook)
    except Exception:
        # Logged here without the path (Django's handler would print it, token and all); the
        # traceback names no token or number. Apollo retries a failed delivery.
        logger.exception("phone webhook failed")
        return _error(500, "server_error", "The delivery could not be stored; try again later.")
    if delivery.outcome in _ANSWERS:
        status, code, message = _ANSWERS[delivery.outcome]
        if delivery.reveal is not None:
            logger.warning(
                "phone webhook refused",
                extra={"reveal": delivery.reveal.pk, "outcome": str(delivery.outcome)},
            )
        return _error(status, code, message)
    return JsonResponse(
        {
            "status": "received",
            "duplicate": delivery.outcome is DeliveryOutcome.DUPLICATE,
            "found": sorted(delivery.fields),
        }
    )


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": code, "message": message}, status=status)
    # django.request logs every 4xx with the request path, and the path holds the token.
    # Marking the response as logged (Django's own flag for this) keeps it out of the logs.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
