"""API error shape shared by every endpoint: ``{"error": code, "message": text}``.

Errors DRF does not see (a URL that matches nothing, a crash, a request Django refuses before
any view) get the same shape under ``/api/`` from the project's ``handler400/403/404/500`` below.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Raised by Django while DRF reads the body; DRF would let it through as a crash.
        code, message = _STATUS_ERRORS[413]
        return Response({"error": code, "message": message}, status=413)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        if isinstance(code, dict | list):
            code = "invalid"
        detail = exc.detail
        message = detail if isinstance(detail, str) else "The request is not valid."
        body = {"error": str(code), "message": str(message)}
        if isinstance(detail, dict | list):
            body["fields"] = detail
        response.data = body
    return response


def error_response(code: str, message: str, status_code: int = status.HTTP_400_BAD_REQUEST):
    return Response({"error": code, "message": message}, status=status_code)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, naming nested serializers after the view that holds them.

    Each API view declares its own ``InputSerializer`` and ``OutputSerializer``, which
    drf-spectacular would all call ``Input`` and ``Output``, so one view's component would
    silently stand for every other's. ``EmailFindApi.InputSerializer`` becomes
    ``EmailFindInput``.
    """

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        owner, _, own = type(serializer).__qualname__.rpartition(".")
        if owner and "." not in owner and own.endswith("Serializer"):
            return owner.removesuffix("Api").removesuffix("View") + own
        return name


_STATUS_ERRORS = {
    400: ("bad_request", "The request is not valid."),
    413: ("too_large", "The request body is too large."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Nothing is here."),
    500: ("server_error", "The server could not answer; the error is logged."),
}


def _json_error(status_code: int) -> JsonResponse:
    code, message = _STATUS_ERRORS[status_code]
    return JsonResponse({"error": code, "message": message}, status=status_code)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _is_api(request):
        # Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE as a 400; it is a 413.
        return _json_error(413 if isinstance(exception, RequestDataTooBig) else 400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if _is_api(request):
        return _json_error(403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if _is_api(request):
        return _json_error(404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return _json_error(500)
    return defaults.server_error(request)
