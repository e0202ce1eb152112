"""The EBS CSI add-on: its own IRSA role, created only after the node pools its controller runs on."""

import json


def test_irsa_role_and_ordering(stack_plan):
    declared = stack_plan("production")
    role = declared.one("aws:iam/role:Role", "llm-production-ebs-csi-controller")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in statement["Condition"]["StringEquals"].values()
    (attachment,) = [a for a in declared.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.inputs["role"] == role.inputs["name"]]
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    addon = declared.one("aws:eks/addon:Addon")
    assert addon.inputs["serviceAccountRoleArn"].endswith(":role/llm-production-ebs-csi")
    component = declared.by_urn(addon.parent)
    node_pools = {r.urn for r in declared.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    assert node_pools and node_pools <= set(component.depends_on)
