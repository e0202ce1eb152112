"""Model serving: the serving namespace, the weight fetcher every model's init container runs, one
`ModelServer` per configured model with a generated API key, and an optional HTTPS endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pulumi
import pulumi_random as random

from components.model_server import FETCH_SCRIPT, FETCH_SCRIPT_CONFIG_MAP, ModelServer, ModelServerArgs
from components.model_store import weights_location
from llm_platform.config import IngressConfig, ModelConfig
from llm_platform.kubernetes import SERVING_NAMESPACE, KubernetesObject

FETCH_SCRIPT_PATH = Path(__file__).resolve().parent.parent / "llm_platform" / "pod" / FETCH_SCRIPT
# Long generations stream for minutes; the load balancer must not cut an idle-looking connection first
# (the seeds use 300 s read/send timeouts).
IDLE_TIMEOUT_SECONDS = 300
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class ServingArgs:
    models: list[ModelConfig]
    bucket: pulumi.Input[str]
    object_store: str
    """URI scheme of the stack's object store: `s3` or `gs`."""
    service_account_annotations: dict[str, Mapping[str, pulumi.Input[str]]]
    """By model: what its Kubernetes service account carries so that its pods can read the weights (the
    IRSA role on EKS; nothing on GKE, where the bucket grants the service account itself)."""
    vpc_cidr: str
    ingress: IngressConfig | None
    hugging_face_token: pulumi.Input[str] | None


def fetch_script_config_map() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": FETCH_SCRIPT_CONFIG_MAP, "namespace": SERVING_NAMESPACE},
        "data": {FETCH_SCRIPT: FETCH_SCRIPT_PATH.read_text()},
    }


def ingress(config: IngressConfig, models: list[ModelConfig]) -> dict:
    """One ALB for all models, a host per model (`<model>.<host>`; the certificate covers `*.<host>`).
    An ALB passes streamed responses through as they come: there is no proxy buffering to switch off."""
    annotations = {
        "alb.ingress.kubernetes.io/scheme": config.scheme,
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
        "alb.ingress.kubernetes.io/certificate-arn": config.certificate_arn,
        "alb.ingress.kubernetes.io/ssl-policy": TLS_POLICY,
        "alb.ingress.kubernetes.io/load-balancer-attributes": f"idle_timeout.timeout_seconds={IDLE_TIMEOUT_SECONDS}",
        "alb.ingress.kubernetes.io/healthcheck-path": "/health",
        "alb.ingress.kubernetes.io/group.name": "llm-platform",
    }
    if config.allowed_cidrs:
        annotations["alb.ingress.kubernetes.io/inbound-cidrs"] = ",".join(str(cidr) for cidr in config.allowed_cidrs)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "models", "namespace": SERVING_NAMESPACE, "annotations": annotations},
        "spec": {
            "ingressClassName": "alb",
            "tls": [{"hosts": [f"*.{config.host}"]}],
            "rules": [
                {
                    "host": f"{model.name}.{config.host}",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": model.name, "port": {"name": "http"}}}}]},
                }
                for model in models
            ],
        },
    }


class Serving(pulumi.ComponentResource):
    api_keys: pulumi.Output[dict[str, str]]
    endpoints: dict[str, str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = KubernetesObject(f"{name}-namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SERVING_NAMESPACE}}, child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        script = KubernetesObject(f"{name}-fetch-weights", fetch_script_config_map(), in_namespace)

        keys = {}
        for model in args.models:
            key = random.RandomPassword(f"{name}-{model.name}-api-key", length=40, special=False, opts=child)
            keys[model.name] = pulumi.Output.secret(key.result)
            ModelServer(
                f"{name}-{model.name}",
                ModelServerArgs(
                    model=model,
                    weights_uri=pulumi.Output.from_input(args.bucket).apply(
                        lambda bucket, m=model: "{}://{}/{}".format(args.object_store, *weights_location(m, bucket))
                    ),
                    service_account_annotations=args.service_account_annotations.get(model.name, {}),
                    api_key=keys[model.name],
                    hugging_face_token=args.hugging_face_token if model.source.startswith("hf://") else None,
                    vpc_cidr=args.vpc_cidr,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, script]),
            )
        if args.ingress and args.models:
            KubernetesObject(f"{name}-ingress", ingress(args.ingress, args.models), in_namespace)

        self.api_keys = pulumi.Output.secret(pulumi.Output.all(**keys)) if keys else pulumi.Output.secret({})
        self.endpoints = {
            model.name: f"https://{model.name}.{args.ingress.host}/v1" if args.ingress else f"http://{model.name}.{SERVING_NAMESPACE}.svc/v1" for model in args.models
        }
        self.register_outputs({"api_keys": self.api_keys, "endpoints": self.endpoints})
