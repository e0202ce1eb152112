"""The cloud's rules for the stack's `tags`, checked before a deploy would fail on them: AWS tags on AWS
(every taggable resource), Google Cloud labels on Google Cloud."""

from __future__ import annotations

import unicodedata

from llm_platform.config.violations import Rules, Violation

# AWS tag limits ("Tagging AWS resources", Tag naming limits and requirements): keys 1-128 and values
# 0-256 Unicode characters, letters, numbers, spaces and `_ . : / = + - @` only, the `aws:` prefix
# reserved, 50 user tags per resource.
AWS_TAG_KEY_MAX = 128
AWS_TAG_VALUE_MAX = 256
AWS_TAGS_PER_RESOURCE = 50
AWS_TAG_PUNCTUATION = "_.:/=+-@"
# Tags the platform puts on one resource besides the stack's: at most 7 from the program (a subnet:
# environment, project, managed-by, Name, tier, karpenter.sh/discovery and an ELB role tag; a test holds
# the plans to it), and the ones Karpenter adds to the instances it launches (karpenter.sh/nodepool,
# karpenter.sh/nodeclaim, karpenter.k8s.aws/ec2nodeclass, kubernetes.io/cluster/<cluster>,
# eks:eks-cluster-name: Karpenter's NodeClasses documentation, "Tags").
AWS_PROGRAM_TAGS_MAX = 7
AWS_PLATFORM_TAGS = AWS_PROGRAM_TAGS_MAX + 5
# Google Cloud labels (Resource Manager, "Requirements for labels"): keys 1-63 and values 0-63 characters
# of lowercase letters, digits, '_' and '-' (international characters allowed), keys starting with a
# lowercase letter or an international character; 64 labels per resource. The platform sets three
# (environment, project, managed-by).
GCP_LABEL_MAX = 63
GCP_LABELS_PER_RESOURCE = 64
GCP_PLATFORM_LABELS = 3


def _aws_characters_ok(text: str) -> bool:
    return all(ch.isalnum() or unicodedata.category(ch) == "Zs" or ch in AWS_TAG_PUNCTUATION for ch in text)


def aws_tag_violations(tags: dict[str, str]) -> Rules:
    rule = f"AWS tag keys are 1-{AWS_TAG_KEY_MAX} and values at most {AWS_TAG_VALUE_MAX} letters, digits, spaces and '{AWS_TAG_PUNCTUATION}'"
    for key, value in sorted(tags.items()):
        if not 1 <= len(key) <= AWS_TAG_KEY_MAX or not _aws_characters_ok(key):
            yield Violation(f"tags.{key}", value, f"the key breaks the AWS rules: {rule}")
        elif len(value) > AWS_TAG_VALUE_MAX or not _aws_characters_ok(value):
            yield Violation(f"tags.{key}", value, rule)
    allowed = AWS_TAGS_PER_RESOURCE - AWS_PLATFORM_TAGS
    if len(tags) > allowed:
        yield Violation("tags", f"({len(tags)} tags)", f"AWS allows {AWS_TAGS_PER_RESOURCE} tags per resource and the platform sets up to {AWS_PLATFORM_TAGS}: at most {allowed}")


def _gcp_label_ok(text: str, *, key: bool) -> bool:
    def allowed(ch: str) -> bool:
        return (ch.isascii() and (ch.islower() or ch.isdigit() or ch in "_-")) or (not ch.isascii() and ch.isalnum() and not ch.isupper())

    if key and (not text or not (text[0].islower() or (not text[0].isascii() and text[0].isalpha() and not text[0].isupper()))):
        return False
    return len(text) <= GCP_LABEL_MAX and all(allowed(ch) for ch in text)


def gcp_label_violations(tags: dict[str, str]) -> Rules:
    rule = f"Google Cloud labels are lowercase letters, digits, '_' and '-' (keys start with a letter), at most {GCP_LABEL_MAX} characters"
    for key, value in sorted(tags.items()):
        if not _gcp_label_ok(key, key=True) or not _gcp_label_ok(value, key=False):
            yield Violation(f"tags.{key}", value, rule)
    allowed = GCP_LABELS_PER_RESOURCE - GCP_PLATFORM_LABELS
    if len(tags) > allowed:
        yield Violation("tags", f"({len(tags)} tags)", f"Google Cloud allows {GCP_LABELS_PER_RESOURCE} labels per resource and the platform sets {GCP_PLATFORM_LABELS}: at most {allowed}")
