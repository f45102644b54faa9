"""API error shape shared by every endpoint: ``{"error": code, "message": text}``."""

from __future__ import annotations

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
