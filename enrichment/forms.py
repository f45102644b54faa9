"""Forms of the job pages: the upload with the job's options, and the column mapping review."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django import forms
from django.core.validators import MinValueValidator

from budgets.models import Project
from enrichment import uploads, webhooks
from enrichment.csvio import CsvError, parse_csv
from enrichment.fields import CANONICAL_FIELDS
from enrichment.waterfall import DEFAULT_MIN_CONFIDENCE
from providers.models import Provider

NAME_FIELDS = {"full_name", "first_name", "last_name"}


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class JobUploadForm(forms.Form):
    file = forms.FileField(label="CSV file")
    name = forms.CharField(max_length=200, required=False, help_text="Default: the file name.")
    fields = forms.MultipleChoiceField(
        choices=[(f, f) for f in CANONICAL_FIELDS],
        initial=["email"],
        widget=forms.CheckboxSelectMultiple,
        label="Fields to find",
    )
    providers = forms.ModelMultipleChoiceField(
        queryset=Provider.objects.none(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Asked in this order after the built-in email finder; none: the finder only.",
    )
    min_confidence = forms.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        initial=DEFAULT_MIN_CONFIDENCE,
        label="Minimum confidence",
        help_text="A provider's value below this is not enough; the next provider is asked.",
    )
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False)
    cost_cap = forms.DecimalField(
        max_digits=12,
        decimal_places=4,
        required=False,
        validators=[MinValueValidator(0)],
        label="Total cost cap",
        help_text="The job pauses before its cost would pass this.",
    )
    cost_cap_per_lead = forms.DecimalField(
        max_digits=10,
        decimal_places=4,
        required=False,
        validators=[MinValueValidator(0)],
        label="Cost cap per lead",
    )
    offline = forms.BooleanField(
        required=False, label="Skip DNS and SMTP checks (offline)", initial=False
    )
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Completion webhook",
        help_text="A signed summary is POSTed here when the job ends.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["providers"].queryset = Provider.objects.filter(enabled=True).order_by(
            "priority", "slug"
        )
        self.fields["project"].queryset = Project.objects.order_by("name")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > uploads.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {_megabytes(upload.size)}; "
                f"the limit is {_megabytes(uploads.MAX_UPLOAD_BYTES)}."
            )
        raw = upload.read()
        try:
            table = parse_csv(raw, lenient=True)
        except CsvError as exc:
            raise forms.ValidationError(f"{upload.name}: {exc}") from None
        if not table.rows:
            raise forms.ValidationError(f"{upload.name}: a header row but no rows")
        self.raw = raw
        return upload

    def clean_webhook_url(self):
        url = self.cleaned_data["webhook_url"]
        try:
            return webhooks.webhook_url_check(url) if url else ""
        except webhooks.WebhookConfigError as exc:
            raise forms.ValidationError(str(exc)) from None

    def draft(self) -> dict:
        """The options as kept in the session until the mapping is reviewed (JSON types)."""
        data = self.cleaned_data
        return {
            "file_name": data["file"].name[:200],
            "name": data["name"] or data["file"].name[:200],
            "fields": list(data["fields"]),
            "providers": [p.slug for p in data["providers"]],
            "project": data["project"].pk if data["project"] else None,
            "cost_cap": str(data["cost_cap"]) if data["cost_cap"] is not None else None,
            "cost_cap_per_lead": str(data["cost_cap_per_lead"])
            if data["cost_cap_per_lead"] is not None
            else None,
            "offline": data["offline"],
            "min_confidence": DEFAULT_MIN_CONFIDENCE
            if data["min_confidence"] is None
            else data["min_confidence"],
            "webhook_url": data["webhook_url"],
        }


class MappingForm(forms.Form):
    """One select per input column: the canonical field it holds, or none."""

    def __init__(self, *args, headers: Sequence[str], inferred: Mapping[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = list(headers)
        by_header = {header: field for field, header in inferred.items()}
        choices = [("", "— not used —"), *((f, f) for f in CANONICAL_FIELDS)]
        for index, header in enumerate(self.headers):
            self.fields[f"map_{index}"] = forms.ChoiceField(
                choices=choices, required=False, initial=by_header.get(header, ""), label=header
            )

    def columns(self):
        """(header, bound field) pairs in the file's order, for the template."""
        return [(header, self[f"map_{i}"]) for i, header in enumerate(self.headers)]

    def clean(self):
        data = super().clean()
        mapping: dict[str, str] = {}
        for index, header in enumerate(self.headers):
            field = data.get(f"map_{index}")
            if not field:
                continue
            if field in mapping:
                raise forms.ValidationError(
                    f"{field} is chosen for two columns: {mapping[field]!r} and {header!r}."
                )
            mapping[field] = header
        if not NAME_FIELDS & mapping.keys():
            raise forms.ValidationError(
                "Map a name column: first_name and last_name, or full_name."
            )
        data["mapping"] = mapping
        return data
