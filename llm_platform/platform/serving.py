"""Model serving: the serving namespace, the weight fetcher every model's init container runs, one
`ModelServer` per configured model with a generated API key, and the endpoint the cloud base offers in
front of them, if any (an ALB Ingress on AWS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_random as random

from llm_platform.config import ModelConfig
from llm_platform.config.models import releases
from llm_platform.contract import SERVING_NAMESPACE, is_bucket_source, model_host, weights_location
from llm_platform.kubernetes import KubernetesObject, isolate_namespace
from llm_platform.platform.model_server import FETCH_SCRIPT_CONFIG_MAP, POD_FILES, CapacityPlacement, ModelServer, ModelServerArgs


@dataclass(frozen=True)
class ModelIngress:
    """An endpoint a cloud base puts in front of the models: one Kubernetes Ingress in the serving
    namespace, and the host under which each model answers at `https://<model>.<host>/v1`."""

    manifest: dict
    host: str


@dataclass(frozen=True)
class ServingArgs:
    models: list[ModelConfig]
    bucket: pulumi.Input[str]
    object_store: str
    """URI scheme of the stack's object store: `s3` or `gs`."""
    service_account_annotations: dict[str, Mapping[str, pulumi.Input[str]]]
    """By model: what its Kubernetes service account carries so that its pods can read the weights (the
    IRSA role on EKS; nothing on GKE, where the bucket grants the service account itself)."""
    load_balancer_cidrs: list[str]
    """Where the cloud's load balancer in front of the models reaches the pods from (none without one)."""
    ingress: ModelIngress | None
    hugging_face_token: pulumi.Input[str] | None
    placement: CapacityPlacement
    require_staged: bool = False
    """Production: a Hugging Face model is served only from a complete staged copy (its manifest)."""


def fetch_script_config_map() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": FETCH_SCRIPT_CONFIG_MAP, "namespace": SERVING_NAMESPACE},
        "data": {key: source.read_text() for key, (source, _) in POD_FILES.items()},
    }


class Serving(pulumi.ComponentResource):
    api_keys: pulumi.Output[dict[str, str]]
    endpoints: dict[str, str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The model pods meet the `restricted` standard; each model's own NetworkPolicy admits what may
        # reach it, the namespace admits nothing else.
        namespace = isolate_namespace(name, SERVING_NAMESPACE, pod_security="restricted", allow=[], created_by=None, opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        script = KubernetesObject(f"{name}-fetch-weights", fetch_script_config_map(), in_namespace)

        keys = {}
        for model in args.models:
            key = random.RandomPassword(f"{name}-{model.name}-api-key", length=40, special=False, opts=child)
            keys[model.name] = pulumi.Output.secret(key.result)
        # Every model, then every canary: a canary is a model server of its own that answers to its model's
        # name with its model's API key.
        for model in releases(args.models):
            ModelServer(
                f"{name}-{model.name}",
                ModelServerArgs(
                    model=model,
                    weights_uri=pulumi.Output.from_input(args.bucket).apply(
                        lambda bucket, m=model: weights_location(m.weights_name, m.source, bucket, args.object_store).uri()
                    ),
                    service_account_annotations=args.service_account_annotations.get(model.name, {}),
                    api_key=keys[model.served_name],
                    hugging_face_token=None if is_bucket_source(model.source) else args.hugging_face_token,
                    load_balancer_cidrs=args.load_balancer_cidrs,
                    placement=args.placement,
                    # A bucket source is the user's own copy, which has no manifest unless they wrote one.
                    require_manifest=args.require_staged and not is_bucket_source(model.source),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, script]),
            )
        if args.ingress and args.models:
            KubernetesObject(f"{name}-ingress", args.ingress.manifest, in_namespace)

        self.api_keys = pulumi.Output.secret(pulumi.Output.all(**keys)) if keys else pulumi.Output.secret({})
        self.endpoints = {
            model.name: f"https://{model_host(model.name, args.ingress.host)}/v1" if args.ingress else f"http://{model.name}.{SERVING_NAMESPACE}.svc/v1" for model in args.models
        }
        self.register_outputs({"api_keys": self.api_keys, "endpoints": self.endpoints})
