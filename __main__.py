"""llm-platform: loads the stack configuration, builds the base of the stack's cloud and deploys the
in-cluster platform on it. Nothing else lives here.

Only the chosen cloud's base is imported, so a stack never loads the other cloud's SDK."""

import pulumi

from llm_platform import config
from llm_platform.platform.deploy import deploy

cfg = config.load()
if cfg.cloud == "aws":
    from llm_platform.aws.base import build
else:
    from llm_platform.gcp.base import build
base = build(cfg)
platform = deploy(cfg, base)

pulumi.export("cloud", cfg.cloud)
pulumi.export("region", cfg.region)
for key, value in base.exports.items():
    pulumi.export(key, value)
pulumi.export("monitoringNamespace", platform.monitoring.namespace)
pulumi.export("defaultStorageClass", base.storage_class)
pulumi.export("grafanaAdminPassword", platform.monitoring.grafana_admin_password)
pulumi.export("modelBucket", base.bucket)
pulumi.export("modelEndpoints", platform.serving.endpoints)
pulumi.export("modelApiKeys", platform.serving.api_keys)
if platform.gateway:
    pulumi.export("gatewayEndpoint", platform.gateway.endpoint)
    pulumi.export("clientKeys", platform.gateway.client_keys)
