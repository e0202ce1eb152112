"""Weights on Google Cloud: a private, CMEK-encrypted, versioned bucket; each model's service account may
read its own prefix only, through Workload Identity Federation."""

import pytest

from llm_platform.config import ModelConfig
from llm_platform.gcp.object_store import GcsModelStore, GcsModelStoreArgs, read_condition, workload_principal
from tests.llm_platform.gcp.gke import CLUSTER, LABELS, PROJECT, PROJECT_NUMBER, REGION, declare_once, on_gcp

BUCKET = "gcp:storage/bucket:Bucket"
BINDING = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY_RING = f"projects/{PROJECT}/locations/{REGION}/keyRings/{CLUSTER}-keys"
MISTRAL = ModelConfig(name="mistral-7b-instruct", source="hf://mistralai/Mistral-7B-Instruct-v0.3", parameters_billion=7.25, pool_group="l4")
# Weights someone already keeps in a bucket of their own: the grant is on that bucket and prefix.
SHARED = ModelConfig(name="llama-3-1-8b-instruct", source="gs://acme-shared-weights/llama/3.1-8b", parameters_billion=8.03, pool_group="l4")


def model_store(protect: bool):
    def program():
        args = GcsModelStoreArgs(
            cluster_name=CLUSTER,
            project=PROJECT,
            # The base passes the number GKE's getProject answered (tools/mock_cloud.py).
            project_number=PROJECT_NUMBER,
            region=REGION,
            key_ring_id=KEY_RING,
            models=[MISTRAL, SHARED],
            protect=protect,
            labels=LABELS,
        )
        GcsModelStore(f"{CLUSTER}-models", args, opts=on_gcp())

    return program


@pytest.fixture(scope="module")
def declared():
    return declare_once(model_store(protect=False))


def test_bucket_is_private_versioned_and_encrypted_with_our_key(declared):
    bucket = declared.one(BUCKET)
    key = declared.one("gcp:kms/cryptoKey:CryptoKey", f"{CLUSTER}-models-key")
    assert bucket.inputs["name"] == "gke-test-weights-acme-llm-test"
    assert bucket.inputs["location"] == "US-CENTRAL1"
    assert bucket.inputs["uniformBucketLevelAccess"] is True and bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.inputs["labels"] == LABELS
    assert bucket.inputs["encryption"] == {"defaultKmsKeyName": key.id}
    assert key.inputs["keyRing"] == KEY_RING and key.inputs["rotationPeriod"] == "7776000s"
    assert {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"}} in bucket.inputs["lifecycleRules"]
    grant = declared.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", f"{CLUSTER}-models-key-agent")
    assert grant.inputs["cryptoKeyId"] == key.id and grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"] == f"serviceAccount:service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    assert grant.urn in bucket.depends_on
    assert bucket.protect is False, "only production protects the bucket"


def test_production_protects_the_bucket(declare):
    assert declare(model_store(protect=True), region=REGION).one(BUCKET).protect is True


def test_each_model_reads_only_its_prefix_as_its_own_service_account(declared):
    binding = declared.one(BINDING, f"{CLUSTER}-models-mistral-7b-instruct-read")
    assert binding.inputs["role"] == "roles/storage.objectViewer"
    assert binding.inputs["bucket"] == "gke-test-weights-acme-llm-test"
    assert binding.inputs["member"] == (
        f"principal://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
        "acme-llm-test.svc.id.goog/subject/ns/serving/sa/mistral-7b-instruct"
    )
    condition = binding.inputs["condition"]["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/gke-test-weights-acme-llm-test/objects/models/mistral-7b-instruct/")' in condition
    assert 'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("models/mistral-7b-instruct/")' in condition
    assert declared.one(BUCKET).urn in binding.depends_on
    # A gs:// source is read where it is: the grant is on that bucket and prefix.
    shared = declared.one(BINDING, f"{CLUSTER}-models-llama-3-1-8b-instruct-read").inputs
    assert shared["bucket"] == "acme-shared-weights"
    assert shared["member"].endswith("/subject/ns/serving/sa/llama-3-1-8b-instruct")
    assert 'resource.name.startsWith("projects/_/buckets/acme-shared-weights/objects/llama/3.1-8b/")' in shared["condition"]["expression"]


def test_model_service_accounts_need_no_annotation_on_gke(gke_base):
    # What the GCP base hands the platform's model servers: no annotation, weights in its gs:// bucket.
    declared = gke_base.declared
    assert gke_base.base.service_account_annotations == {} and gke_base.config.OBJECT_STORE == "gs"
    account = declared.one("kubernetes:core/v1:ServiceAccount", f"{CLUSTER}-serving-mistral-7b-instruct-sa").inputs
    assert "annotations" not in account["metadata"]
    # The service account the bucket grants is that one.
    binding = declared.one(BINDING).inputs
    assert binding["member"].endswith(f"/subject/ns/{account['metadata']['namespace']}/sa/{account['metadata']['name']}")
    deployment = declared.one("kubernetes:apps/v1:Deployment").inputs
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["initContainers"][0]["env"]}
    assert env["WEIGHTS_URI"] == "gs://gke-test-weights-acme-llm-test/models/mistral-7b-instruct"
    assert declared.plan.outputs["modelBucket"] == "gke-test-weights-acme-llm-test"


def test_helpers():
    assert workload_principal("p", "1", "ns", "sa").endswith("/workloadIdentityPools/p.svc.id.goog/subject/ns/ns/sa/sa")
    assert read_condition("b", "x/y")["title"] == "weights-prefix-only"
