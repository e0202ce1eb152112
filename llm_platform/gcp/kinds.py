"""The Google Cloud resource types the GCP base declares, as `pulumi_gcp` 10.2.0's typed classes register
them (see `llm_platform.resources`): type token, the outputs the base reads, the aliases and secret
outputs the SDK adds (it marks a labelled resource's effective labels secret)."""

from llm_platform.resources import Kind

_LABELS = ("effectiveLabels", "pulumiLabels")

SERVICE = Kind("gcp:projects/service:Service")
PROJECT_IAM_MEMBER = Kind("gcp:projects/iAMMember:IAMMember")
NETWORK = Kind("gcp:compute/network:Network", outputs=("selfLink",))
SUBNETWORK = Kind("gcp:compute/subnetwork:Subnetwork", outputs=("selfLink",))
ROUTER = Kind("gcp:compute/router:Router", outputs=("name",))
ADDRESS = Kind("gcp:compute/address:Address", outputs=("address", "selfLink"), secret_outputs=_LABELS)
ROUTER_NAT = Kind("gcp:compute/routerNat:RouterNat")
KEY_RING = Kind("gcp:kms/keyRing:KeyRing")
CRYPTO_KEY = Kind("gcp:kms/cryptoKey:CryptoKey", secret_outputs=_LABELS)
CRYPTO_KEY_IAM_MEMBER = Kind("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
SERVICE_ACCOUNT = Kind("gcp:serviceaccount/account:Account", outputs=("email", "member"), aliases=("gcp:serviceAccount/account:Account",))
SERVICE_ACCOUNT_IAM_MEMBER = Kind("gcp:serviceaccount/iAMMember:IAMMember", aliases=("gcp:serviceAccount/iAMMember:IAMMember",))
CLUSTER = Kind("gcp:container/cluster:Cluster", outputs=("endpoint", "masterAuth"), secret_outputs=_LABELS)
NODE_POOL = Kind("gcp:container/nodePool:NodePool")
BUCKET = Kind("gcp:storage/bucket:Bucket", secret_outputs=_LABELS)
BUCKET_IAM_MEMBER = Kind("gcp:storage/bucketIAMMember:BucketIAMMember")
NOTIFICATION_CHANNEL = Kind("gcp:monitoring/notificationChannel:NotificationChannel")
BILLING_BUDGET = Kind("gcp:billing/budget:Budget")
ARTIFACT_REPOSITORY = Kind("gcp:artifactregistry/repository:Repository", secret_outputs=_LABELS)
ARTIFACT_REPOSITORY_IAM_MEMBER = Kind("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
