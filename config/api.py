"""API error shape shared by every endpoint: ``{"error": code, "message": text}``."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
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
