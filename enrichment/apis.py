"""REST endpoints of the email finder: find, verify, record a bounce.

One APIView per endpoint and verb, with nested input/output serializers; errors are
``{"error": code, "message": text}`` (config/api.py).

The ``smtp`` flag of find and verify can only narrow ``ENRICH_SMTP_PROBE``: with the setting
off no request probes, and each user may ask for ``ENRICH_SMTP_PROBE_RATE`` probing requests
(429 beyond it). Recording a bounce marks stored addresses invalid for everyone: staff only.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from config.api import error_response
from enrichment import services
from enrichment.emails.finder import FinderFailure, find_email
from enrichment.emails.names import InvalidName, parse_name, parse_name_parts
from enrichment.emails.verify import verify_emails


class FactorSerializer(serializers.Serializer):
    name = serializers.CharField()
    points = serializers.IntegerField()
    detail = serializers.CharField()


class SmtpProbeThrottle(UserRateThrottle):
    """Probing requests per user, at ``ENRICH_SMTP_PROBE_RATE`` ("30/hour")."""

    scope = "smtp_probe"

    def get_rate(self) -> str:
        return settings.ENRICH_SMTP_PROBE_RATE


def _smtp_allowed(request, view: APIView, asked: bool) -> bool:
    """Whether this request probes over SMTP: asked for, allowed by the setting, within the
    user's rate (raises 429 beyond it)."""
    if not (asked and settings.ENRICH_SMTP_PROBE):
        return False
    throttle = SmtpProbeThrottle()
    if not throttle.allow_request(request, view):
        raise exceptions.Throttled(throttle.wait())
    return True


class EmailFindApi(APIView):
    class InputSerializer(serializers.Serializer):
        first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        full_name = serializers.CharField(required=False, allow_blank=True, max_length=300)
        domain = serializers.CharField(max_length=500)
        smtp = serializers.BooleanField(default=False)

        def validate(self, attrs):
            if not (attrs.get("first_name") or attrs.get("last_name") or attrs.get("full_name")):
                raise serializers.ValidationError("give first_name/last_name or full_name")
            return attrs

    class OutputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        status = serializers.CharField()
        score = serializers.IntegerField()
        reason = serializers.CharField()
        pattern = serializers.CharField()
        breakdown = FactorSerializer(many=True)
        mx_host = serializers.CharField(allow_null=True)
        catch_all = serializers.BooleanField(allow_null=True)
        domain_pattern = serializers.CharField()
        domain_pattern_support = serializers.IntegerField()
        domain_pattern_share = serializers.FloatField()
        candidates = serializers.ListField(child=serializers.DictField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        try:
            parsed = (
                parse_name_parts(attrs.get("first_name", ""), attrs.get("last_name", ""))
                if attrs.get("first_name") or attrs.get("last_name")
                else parse_name(attrs["full_name"])
            )
        except InvalidName as exc:
            return error_response("invalid_name", str(exc))
        domain = attrs["domain"]
        patterns = services.domain_patterns_learn(domains=[_domain_of(domain)])
        smtp = _smtp_allowed(request, self, attrs["smtp"])
        found = find_email(parsed, domain, patterns=patterns, smtp=smtp)
        if isinstance(found, FinderFailure):
            return error_response(
                "not_findable", found.reason, status.HTTP_422_UNPROCESSABLE_ENTITY
            )
        return Response(self.OutputSerializer(found).data)


def _domain_of(raw: str) -> str:
    from enrichment.emails.domains import InvalidDomain, clean_domain

    try:
        return clean_domain(raw)
    except (InvalidDomain, ValueError):
        return ""


class EmailVerifyApi(APIView):
    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=320)
        smtp = serializers.BooleanField(default=False)

    class OutputSerializer(serializers.Serializer):
        email = serializers.CharField()
        status = serializers.CharField()
        score = serializers.IntegerField()
        reason = serializers.CharField()
        breakdown = FactorSerializer(many=True)
        mx_host = serializers.CharField(allow_null=True)
        catch_all = serializers.BooleanField(allow_null=True)
        disposable = serializers.BooleanField(allow_null=True)
        role = serializers.BooleanField(allow_null=True)
        free_mail = serializers.BooleanField(allow_null=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        smtp = _smtp_allowed(request, self, data.validated_data["smtp"])
        result = next(verify_emails([data.validated_data["email"]], smtp=smtp))
        return Response(self.OutputSerializer(result).data)


class BounceCreateApi(APIView):
    permission_classes = [permissions.IsAdminUser]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

    class OutputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        addresses_marked = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.email_record_bounce(
            email=data.validated_data["email"],
            actor=request.user,
            reason=data.validated_data.get("reason", ""),
        )
        if not outcome.addresses_marked:
            return error_response(
                "not_found", "no stored address matches this email", status.HTTP_404_NOT_FOUND
            )
        return Response(self.OutputSerializer(outcome).data, status=status.HTTP_201_CREATED)
