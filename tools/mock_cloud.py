"""A Pulumi mock engine that answers like AWS or Google Cloud would, for the offline preview and the tests.

Resource ids and ARNs are derived from a hash of (type, name), so two previews of the same program
produce the same plan and a plan diff shows only real changes. An invoke or remote component that the
engine does not know fails loudly instead of returning something plausible but wrong.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi

from llm_platform.kubernetes import exec_kubeconfig

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
# Google Cloud project numbers are 12 digits, like AWS account ids.
GCP_PROJECT_NUMBER = "210987654321"
GCP_API = "https://www.googleapis.com/compute/v1"

# ID prefixes of the EC2 resources the platform declares (EC2 API reference).
EC2_ID_PREFIXES = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "Eip": "eipalloc",
    "RouteTable": "rtb",
    "RouteTableAssociation": "rtbassoc",
    "SecurityGroup": "sg",
    "FlowLog": "fl",
    "LaunchTemplate": "lt",
}


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class CloudMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str, zone_count: int = 4):
        self.region = region
        self.zones = [f"{region}{letter}" for letter in "abcdef"[:zone_count]]
        # Taken from the program's explicit gcp provider, which is registered before anything uses it.
        self.gcp_project = ""

    # -- invokes -----------------------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs):
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
                "id": self.region,
                "names": self.zones,
                "zoneIds": [f"{self._zone_id_prefix()}-az{i + 1}" for i in range(len(self.zones))],
                "groupNames": [self.region] * len(self.zones),
            }
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"id": ACCOUNT_ID, "accountId": ACCOUNT_ID, "arn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/offline-preview", "userId": "AIDAOFFLINEPREVIEW"}
        if token == "aws:index/getPartition:getPartition":
            return {"id": PARTITION, "partition": PARTITION, "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
        if token == "aws:index/getRegion:getRegion":
            return {"id": self.region, "name": self.region, "region": self.region, "endpoint": f"ec2.{self.region}.amazonaws.com", "description": self.region}
        if token == "aws:secretsmanager/getSecret:getSecret":
            # Secrets Manager appends six random characters to a secret's name in its ARN.
            name = args.args["name"]
            arn = f"arn:{PARTITION}:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{name}-{_digest('secret', name, length=6)}"
            return {"id": arn, "arn": arn, "name": name, "region": self.region}
        if token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId") or self.gcp_project
            return {"id": f"projects/{project}", "projectId": project, "number": GCP_PROJECT_NUMBER, "name": project}
        if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            email = f"service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
            return {"id": email, "emailAddress": email, "member": f"serviceAccount:{email}", "project": args.args.get("project") or self.gcp_project}
        raise NotImplementedError(f"the offline preview has no answer for invoke {token}; add one to tools/mock_cloud.py")

    # -- resources ---------------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        package, _, rest = typ.partition(":")
        module, _, kind = rest.partition(":")
        service = module.split("/")[0]
        digest = _digest(typ, name)

        if package == "aws":
            return self._aws(service, kind, name, inputs, digest)
        if package == "gcp":
            return self._gcp(service, kind, name, inputs, digest)
        if typ.startswith("pulumi:providers:"):
            if typ == "pulumi:providers:gcp":
                self.gcp_project = inputs.get("project", "")
            return f"{name}-provider-id", inputs
        if package == "kubernetes":
            metadata = inputs.get("metadata") or {}
            namespace = metadata.get("namespace")
            rid = f"{namespace}/{metadata.get('name', name)}" if namespace else metadata.get("name", inputs.get("name", name))
            return rid, inputs
        if typ.startswith("llm-platform:"):
            return "", {}
        if typ == "random:index/randomPassword:RandomPassword":
            # The provider marks `result` secret; the preview only ever shows it as "[secret]".
            return f"{name}-{digest[:8]}", {**inputs, "result": f"offline-{digest[: int(inputs.get('length', 16))]}"}
        if typ == "eks:index:Cluster":
            return self._eks_cluster(name, inputs, digest)
        if not args.custom:
            raise NotImplementedError(f"the offline preview does not know the remote component {typ}; add its outputs to tools/mock_cloud.py")
        return f"{name}-{digest[:8]}", inputs

    def _eks_cluster(self, name: str, inputs: dict[str, Any], digest: str):
        """Outputs of pulumi-eks's remote Cluster component that the program reads (its children are not
        created under mocks)."""
        cluster_name = inputs.get("name") or name
        oidc_id = digest.upper()[:32].ljust(32, "0")
        issuer = f"oidc.eks.{self.region}.amazonaws.com/id/{oidc_id}"
        endpoint = f"https://{oidc_id}.gr7.{self.region}.eks.amazonaws.com"
        kubeconfig = exec_kubeconfig(
            cluster_name,
            endpoint,
            "LS0tLS1CRUdJTi1PRkZMSU5FLVBSRVZJRVctLS0tLQ==",
            {"command": "aws", "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", self.region]},
        )
        outputs = {
            **inputs,
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcIssuer": issuer,
            "oidcProviderUrl": f"https://{issuer}",
            "oidcProviderArn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "clusterSecurityGroupId": f"sg-{digest}",
        }
        return f"{cluster_name}-{digest[:8]}", outputs

    def _zone_id_prefix(self) -> str:
        # Zone ids abbreviate the region: us-west-2 -> usw2.
        area, direction, number = self.region.split("-")
        return f"{area}{direction[0]}{number}"

    def _arn(self, service: str, resource: str, regional: bool = True) -> str:
        region = self.region if regional else ""
        account = ACCOUNT_ID if service != "s3" else ""
        return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"

    def _aws(self, service: str, kind: str, name: str, inputs: dict[str, Any], digest: str):
        state = dict(inputs)
        physical = inputs.get("name") or f"{name}-{digest[:7]}"
        if service == "ec2" and kind in EC2_ID_PREFIXES:
            rid = f"{EC2_ID_PREFIXES[kind]}-{digest}"
            state["arn"] = self._arn("ec2", f"{kind.lower()}/{rid}")
            if kind == "Eip":
                state["publicIp"] = "203.0.113.%d" % (int(digest[:2], 16) % 250 + 1)
            return rid, state
        if service == "iam":
            state["name"] = physical
            if kind == "Role":
                state["arn"] = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{physical}"
                state["uniqueId"] = f"AROA{digest.upper()}"
                return physical, state
            if kind == "Policy":
                state["arn"] = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy/{physical}"
                return state["arn"], state
            if kind == "InstanceProfile":
                state["arn"] = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:instance-profile/{physical}"
                return physical, state
            return f"{physical}-{digest[:8]}", state
        if service == "cloudwatch" and kind == "LogGroup":
            state["name"] = physical
            state["arn"] = self._arn("logs", f"log-group:{physical}")
            return physical, state
        if service == "cloudwatch" and kind == "EventRule":
            state["name"] = physical
            state["arn"] = self._arn("events", f"rule/{physical}")
            return physical, state
        if service == "sqs" and kind == "Queue":
            state["name"] = physical
            state["arn"] = self._arn("sqs", physical)
            state["url"] = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{physical}"
            return state["url"], state
        if service == "kms" and kind == "Key":
            key_id = f"{digest[:8]}-{digest[8:12]}-4{digest[12:15]}-8{digest[15:17]}0-{_digest(digest)[:12]}"
            state["keyId"] = key_id
            state["arn"] = self._arn("kms", f"key/{key_id}")
            return key_id, state
        if service == "s3" and kind in ("Bucket", "BucketV2"):
            bucket = inputs.get("bucket") or f"{name}-{digest[:7]}"
            state["bucket"] = bucket
            state["arn"] = f"arn:{PARTITION}:s3:::{bucket}"
            state["bucketRegionalDomainName"] = f"{bucket}.s3.{self.region}.amazonaws.com"
            return bucket, state
        if service == "sns" and kind == "Topic":
            state["name"] = physical
            state["arn"] = self._arn("sns", physical)
            return state["arn"], state
        state.setdefault("arn", self._arn(service, f"{kind.lower()}/{physical}"))
        return f"{physical}-{digest[:8]}", state

    def _gcp(self, service: str, kind: str, name: str, inputs: dict[str, Any], digest: str):
        """Ids and computed attributes in the formats the Google APIs use (resource names, self links)."""
        state = dict(inputs)
        project = inputs.get("project") or self.gcp_project
        physical = inputs.get("name") or f"{name}-{digest[:7]}"
        state["name"] = physical
        if service == "compute":
            collection = {"Network": "global/networks", "Subnetwork": f"regions/{self.region}/subnetworks", "Router": f"regions/{self.region}/routers",
                          "Address": f"regions/{self.region}/addresses"}.get(kind)
            if collection:
                rid = f"projects/{project}/{collection}/{physical}"
                state["selfLink"] = f"{GCP_API}/{rid}"
                if kind == "Address":
                    state["address"] = "198.51.100.%d" % (int(digest[:2], 16) % 250 + 1)
                return rid, state
            if kind == "RouterNat":
                return f"{project}/{self.region}/{inputs.get('router')}/{physical}", state
        if service == "container" and kind == "Cluster":
            rid = f"projects/{project}/locations/{inputs.get('location')}/clusters/{physical}"
            state["endpoint"] = "203.0.113.%d" % (int(digest[:2], 16) % 250 + 1)
            state["masterAuth"] = {"clusterCaCertificate": "LS0tLS1CRUdJTi1PRkZMSU5FLVBSRVZJRVctLS0tLQ=="}
            state["selfLink"] = f"https://container.googleapis.com/v1/{rid}"
            return rid, state
        if service == "container" and kind == "NodePool":
            return f"{inputs.get('cluster')}/nodePools/{physical}", state
        if service == "kms" and kind == "KeyRing":
            return f"projects/{project}/locations/{inputs.get('location')}/keyRings/{physical}", state
        if service == "kms" and kind == "CryptoKey":
            return f"{inputs.get('keyRing')}/cryptoKeys/{physical}", state
        if service == "serviceaccount" and kind == "Account":
            email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
            state |= {"email": email, "member": f"serviceAccount:{email}", "uniqueId": str(int(digest[:12], 16))}
            return f"projects/{project}/serviceAccounts/{email}", state
        if service == "storage" and kind == "Bucket":
            state |= {"url": f"gs://{physical}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{physical}"}
            return physical, state
        if service == "monitoring" and kind == "NotificationChannel":
            rid = f"projects/{project}/notificationChannels/{int(digest[:12], 16)}"
            state["name"] = rid
            return rid, state
        return f"{physical}-{digest[:8]}", state
