"""The AWS resource types the AWS base declares, as the typed classes of `pulumi_aws` 7.51.1 and
`pulumi_eks` 4.4.0 register them (see `llm_platform.resources`): type token, the outputs the base reads,
the aliases the SDK adds."""

from llm_platform import contract
from llm_platform.resources import Kind

# pulumi-eks 4.4.0's Cluster: a multi-language component whose provider builds the EKS cluster, its IAM
# roles, OIDC provider, Fargate profile and add-ons.
EKS_CLUSTER = Kind("eks:index:Cluster", outputs=("clusterSecurityGroupId", "kubeconfigJson", "oidcIssuer", "oidcProviderArn"), remote=True)
BUDGET = Kind("aws:budgets/budget:Budget")
ACM_CERTIFICATE = Kind("aws:acm/certificate:Certificate", outputs=("arn", "domainValidationOptions"), secret_outputs=("privateKey", "privateKeyWo"))
VPC = Kind("aws:ec2/vpc:Vpc")
INTERNET_GATEWAY = Kind("aws:ec2/internetGateway:InternetGateway")
SUBNET = Kind("aws:ec2/subnet:Subnet")
ROUTE_TABLE = Kind("aws:ec2/routeTable:RouteTable")
ROUTE_TABLE_ASSOCIATION = Kind("aws:ec2/routeTableAssociation:RouteTableAssociation")
EIP = Kind("aws:ec2/eip:Eip")
NAT_GATEWAY = Kind("aws:ec2/natGateway:NatGateway")
VPC_ENDPOINT = Kind("aws:ec2/vpcEndpoint:VpcEndpoint")
FLOW_LOG = Kind("aws:ec2/flowLog:FlowLog")
TAG = Kind("aws:ec2/tag:Tag")
LOG_GROUP = Kind("aws:cloudwatch/logGroup:LogGroup", outputs=("arn",))
EVENT_RULE = Kind("aws:cloudwatch/eventRule:EventRule")
EVENT_TARGET = Kind("aws:cloudwatch/eventTarget:EventTarget")
ROLE = Kind("aws:iam/role:Role", outputs=("arn", "name"))
ROLE_POLICY = Kind("aws:iam/rolePolicy:RolePolicy")
ROLE_POLICY_ATTACHMENT = Kind("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
POLICY = Kind("aws:iam/policy:Policy", outputs=("arn",))
KMS_KEY = Kind("aws:kms/key:Key", outputs=("arn", "keyId"))
KMS_ALIAS = Kind("aws:kms/alias:Alias")
EKS_ACCESS_ENTRY = Kind("aws:eks/accessEntry:AccessEntry")
EKS_ADDON = Kind("aws:eks/addon:Addon")
SQS_QUEUE = Kind("aws:sqs/queue:Queue", outputs=("arn", "url"))
SQS_QUEUE_POLICY = Kind("aws:sqs/queuePolicy:QueuePolicy")
SNS_TOPIC = Kind("aws:sns/topic:Topic", outputs=("arn",))
SNS_TOPIC_SUBSCRIPTION = Kind("aws:sns/topicSubscription:TopicSubscription")
# pulumi-aws 7 renamed the V2 S3 resources back; their typed classes alias the old tokens.
S3_BUCKET = Kind("aws:s3/bucket:Bucket", outputs=("arn",), aliases=("aws:s3/bucketV2:BucketV2", "aws:s3/bucketV2:BucketV2"))
S3_PUBLIC_ACCESS_BLOCK = Kind("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
S3_OWNERSHIP_CONTROLS = Kind("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
S3_ENCRYPTION = Kind(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    aliases=("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",),
)
S3_VERSIONING = Kind("aws:s3/bucketVersioning:BucketVersioning", aliases=("aws:s3/bucketVersioningV2:BucketVersioningV2",))
S3_LIFECYCLE = Kind(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", aliases=("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",)
)
S3_BUCKET_POLICY = Kind("aws:s3/bucketPolicy:BucketPolicy")
ECR_PULL_THROUGH_CACHE_RULE = Kind("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
ECR_REPOSITORY_CREATION_TEMPLATE = Kind("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")

# Name length limits the AWS APIs enforce (botocore 1.44.5 service models: events PutRule `Name`, 1-64;
# IAM role names are the contract's, which the stack configuration checks too); names built from the
# cluster and a model or rule are bounded to them with `contract.bounded_name`.
IAM_ROLE_NAME_LIMIT = contract.IAM_ROLE_NAME_LIMIT
EVENT_RULE_NAME_LIMIT = 64
