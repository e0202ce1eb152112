"""What operators see and what pages them: alert rules and Grafana dashboards, built as data by code
from the metric names the pinned exporters expose (`data/exported_metrics.yaml`)."""
