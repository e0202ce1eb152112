"""The in-cluster platform both clouds share: monitoring, dashboards and alerts, KEDA, and the model
servers. It never imports a cloud module; `deploy.deploy` takes what differs as a `ClusterBase`."""
