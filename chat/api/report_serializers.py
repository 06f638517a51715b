"""Response shapes of the report endpoints (documentation only: the bodies come from
chat.selectors.reports)."""
from __future__ import annotations

from rest_framework import serializers

from chat.selectors.reports import METRICS


class DurationFiguresSerializer(serializers.Serializer):
    median = serializers.FloatField(allow_null=True, help_text="Seconds (one decimal); null without data.")
    p90 = serializers.FloatField(allow_null=True, help_text="90th percentile, interpolated, in seconds.")


class CsatFiguresSerializer(serializers.Serializer):
    responses = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True, help_text="Mean rating 1-5 (two decimals).")
    satisfied_share = serializers.FloatField(allow_null=True, help_text="Share of ratings 4 or 5 (0-1).")


class ReportSummarySerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    conversations_opened = serializers.IntegerField(help_text="Created in the window.")
    conversations_resolved = serializers.IntegerField(help_text="Resolved in the window (and still resolved).")
    messages_incoming = serializers.IntegerField()
    messages_outgoing = serializers.IntegerField(help_text="Public replies written by operators.")
    first_response_seconds = DurationFiguresSerializer()
    resolution_seconds = DurationFiguresSerializer()
    csat = CsatFiguresSerializer()


class ReportPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField(help_text="Start of the bucket (UTC).")
    value = serializers.FloatField(allow_null=True, help_text="A count (0 when empty) or a median (null when empty).")


class ReportTimeseriesSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=list(METRICS))
    bucket = serializers.ChoiceField(choices=["hour", "day"])
    tz = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    points = ReportPointSerializer(many=True)


class ReportAgentRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    conversations_assigned = serializers.IntegerField(help_text="Created in the window, assigned to the operator now.")
    conversations_resolved = serializers.IntegerField()
    messages_sent = serializers.IntegerField()
    first_response_seconds_median = serializers.FloatField(allow_null=True)
    resolution_seconds_median = serializers.FloatField(allow_null=True)
    csat_average = serializers.FloatField(allow_null=True)
    csat_responses = serializers.IntegerField()


class ReportAgentsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    results = ReportAgentRowSerializer(many=True)
