"""Model serving: the serving namespace, the weight fetcher every model's init container runs, and one
`ModelServer` per configured model with a generated API key. Outside the cluster the models are reached
only through the inference gateway (`llm_platform.platform.gateway`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import pulumi
import pulumi_random as random

from llm_platform.config import ModelConfig
from llm_platform.config.models import releases
from llm_platform.contract import SERVING_NAMESPACE, is_bucket_source, weights_location
from llm_platform.kubernetes import KubernetesObject, PodSecurityLevel, isolate_namespace
from llm_platform.platform.model_server import FETCH_SCRIPT_CONFIG_MAP, POD_FILES, CapacityPlacement, ModelServer, ModelServerArgs


@dataclass(frozen=True)
class ServingArgs:
    models: list[ModelConfig]
    bucket: pulumi.Input[str]
    object_store: str
    """URI scheme of the stack's object store: `s3` or `gs`."""
    service_account_annotations: dict[str, Mapping[str, pulumi.Input[str]]]
    """By model: what its Kubernetes service account carries so that its pods can read the weights (the
    IRSA role on EKS; nothing on GKE, where the bucket grants the service account itself)."""
    hugging_face_token: pulumi.Input[str] | None
    placement: CapacityPlacement
    image: str
    """The pinned vLLM image as the pods pull it (`pins.mirrored` through the base's registry)."""
    require_staged: bool = False
    """Production: a Hugging Face model is served only from a complete staged copy (its manifest)."""
    pod_security: PodSecurityLevel = "restricted"
    """The namespace's Pod Security level: `restricted`, which the model pods meet, unless the gateway's
    Endpoint Pickers run beside them (an InferencePool, its picker and its pods share a namespace), whose
    chart (llm-d router v0.10.0, routerlib `_deployment.yaml`) sets no securityContext and takes none:
    then `baseline`. The pack's pod rules still hold the model pods to non-root and no capabilities."""
    wake_query: Callable[[str], str] | None = None
    """By model name, the PromQL of its recent requests at the gateway (none without a gateway)."""


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
        # Each model's own NetworkPolicy admits what may reach it, the namespace admits nothing else.
        namespace = isolate_namespace(name, SERVING_NAMESPACE, pod_security=args.pod_security, allow=[], created_by=None, opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        script = KubernetesObject(f"{name}-fetch-weights", fetch_script_config_map(), in_namespace)

        keys = {}
        for model in args.models:
            key = random.RandomPassword(f"{name}-{model.name}-api-key", length=40, special=False, opts=child)
            keys[model.name] = pulumi.Output.secret(key.result)
        # Every model, then every canary: a canary is a model server of its own that answers to its model's
        # name with its model's API key.
        for model in releases(args.models):
            # A bucket source is the user's own copy, which has no manifest unless they wrote one.
            require_manifest = args.require_staged and not is_bucket_source(model.source)
            ModelServer(
                f"{name}-{model.name}",
                ModelServerArgs(
                    model=model,
                    weights_uri=pulumi.Output.from_input(args.bucket).apply(
                        lambda bucket, m=model: weights_location(m.weights_name, m.source, bucket, args.object_store).uri()
                    ),
                    service_account_annotations=args.service_account_annotations.get(model.name, {}),
                    api_key=keys[model.served_name],
                    # Only the fallback to Hugging Face reads the token: a bucket source never falls back, and
                    # a pod that requires the staged copy fails instead (fetch_weights.fetch).
                    hugging_face_token=None if is_bucket_source(model.source) or require_manifest else args.hugging_face_token,
                    placement=args.placement,
                    image=args.image,
                    require_manifest=require_manifest,
                    wake_query=args.wake_query(model.name) if args.wake_query else None,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, script]),
            )

        self.api_keys = pulumi.Output.secret(pulumi.Output.all(**keys)) if keys else pulumi.Output.secret({})
        # In-cluster addresses; from outside, the gateway's endpoint with the model's name in the body.
        self.endpoints = {model.name: f"http://{model.name}.{SERVING_NAMESPACE}.svc/v1" for model in args.models}
        self.register_outputs({"api_keys": self.api_keys, "endpoints": self.endpoints})
