"""Weights on Google Cloud: a private, CMEK-encrypted, versioned bucket; each model's service account may
read its own prefix only, through Workload Identity Federation."""

from llm_platform.gcp.object_store import read_condition, workload_principal


def test_bucket_is_private_versioned_and_encrypted_with_our_key(stack_plan):
    declared = stack_plan("staging-gcp")
    bucket = declared.one("gcp:storage/bucket:Bucket").inputs
    key = declared.one("gcp:kms/cryptoKey:CryptoKey", "llm-staging-models-key")
    assert bucket["name"] == "llm-staging-weights-llm-platform-staging"
    assert bucket["location"] == "US-CENTRAL1"
    assert bucket["uniformBucketLevelAccess"] is True and bucket["publicAccessPrevention"] == "enforced"
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["encryption"] == {"defaultKmsKeyName": key.id}
    assert {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"}} in bucket["lifecycleRules"]
    grant = declared.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "llm-staging-models-key-agent")
    assert grant.inputs["member"] == "serviceAccount:service-210987654321@gs-project-accounts.iam.gserviceaccount.com"
    assert grant.urn in declared.one("gcp:storage/bucket:Bucket").depends_on


def test_each_model_reads_only_its_prefix_as_its_own_service_account(stack_plan):
    binding = stack_plan("staging-gcp").one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert binding["role"] == "roles/storage.objectViewer"
    assert binding["member"] == (
        "principal://iam.googleapis.com/projects/210987654321/locations/global/workloadIdentityPools/"
        "llm-platform-staging.svc.id.goog/subject/ns/serving/sa/mistral-7b-instruct"
    )
    condition = binding["condition"]["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/llm-staging-weights-llm-platform-staging/objects/models/mistral-7b-instruct/")' in condition
    assert 'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("models/mistral-7b-instruct/")' in condition


def test_model_service_accounts_need_no_annotation_on_gke(stack_plan):
    account = stack_plan("staging-gcp").one("kubernetes:core/v1:ServiceAccount", "llm-staging-serving-mistral-7b-instruct-sa").inputs
    assert "annotations" not in account["metadata"]
    deployment = stack_plan("staging-gcp").one("kubernetes:apps/v1:Deployment").inputs
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["initContainers"][0]["env"]}
    assert env["WEIGHTS_URI"] == "gs://llm-staging-weights-llm-platform-staging/models/mistral-7b-instruct"


def test_helpers():
    assert workload_principal("p", "1", "ns", "sa").endswith("/workloadIdentityPools/p.svc.id.goog/subject/ns/ns/sa/sa")
    assert read_condition("b", "x/y")["title"] == "weights-prefix-only"
