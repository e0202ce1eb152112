
from llm_platform_policy import budget
from tests.policies.llm_platform_policy.fixtures import compliant_gke_stack, compliant_stack, mutated, without

CONFIG = {"monthlyBudgetUsd": 3000, "warningThresholdPercent": 80}


def test_compliant_stack_passes():
    assert list(budget.ceiling_within_budget(compliant_stack(), CONFIG)) == []
    assert list(budget.ceiling_below_warning(compliant_stack(), CONFIG)) == []


def test_ceiling_above_budget_names_the_largest_items():
    found = list(budget.ceiling_within_budget(compliant_stack(), {"monthlyBudgetUsd": 1500}))
    [message] = [message for urn, message in found if urn == ""]
    assert "worst-case monthly cost $1,954.55 exceeds the budget $1,500.00 by $454.55" in message
    assert message.index("GPU pool gpu-l4") < message.index("node pool system")


def test_warning_threshold_is_advisory_text():
    [(_, message)] = budget.ceiling_below_warning(compliant_stack(), {"monthlyBudgetUsd": 2400, "warningThresholdPercent": 80})
    assert "81% of the budget $2,400.00 (warning at 80%)" in message


def test_missing_aws_budget():
    assert ("", "the stack declares no AWS Budget (aws.budgets.Budget) to watch actual spend") in list(budget.ceiling_within_budget(without("budget"), CONFIG))


def test_aws_budget_above_policy_budget():
    [(urn, message)] = budget.ceiling_within_budget(mutated("budget", lambda p: p.update(limitAmount="4000.00")), CONFIG)
    assert urn.endswith("::budget")
    assert message == "AWS Budget limit $4,000.00 is above the policy budget $3,000.00"


def test_unbounded_pool_is_a_violation():
    found = list(budget.ceiling_within_budget(mutated("gpu-l4", lambda p: p["spec"].update(limits={})), CONFIG))
    assert any("cost ceiling cannot be computed: NodePool gpu-l4 has no cpu, memory or nvidia.com/gpu limit" in m for _, m in found)


# -- Google Cloud ---------------------------------------------------------------------------------


def test_compliant_gke_stack_passes():
    assert list(budget.ceiling_within_budget(compliant_gke_stack(), CONFIG)) == []


def test_gke_ceiling_above_budget():
    [ceiling, _budget_too_high] = budget.ceiling_within_budget(compliant_gke_stack(), {"monthlyBudgetUsd": 1000})
    assert ceiling[1].startswith("worst-case monthly cost $1,726.04 exceeds the budget $1,000.00 by $726.04; largest items: GPU pool gpu-l4")


def test_missing_cloud_billing_budget():
    stack = [r for r in compliant_gke_stack() if r.name != "budget"]
    assert list(budget.ceiling_within_budget(stack, CONFIG)) == [("", "the stack declares no Cloud Billing budget (gcp.billing.Budget) to watch actual spend")]


def test_cloud_billing_budget_above_policy_budget():
    raised = mutated("budget", lambda p: p["amount"]["specifiedAmount"].update(units="3500", nanos=500_000_000), compliant_gke_stack)
    [(urn, message)] = budget.ceiling_within_budget(raised, CONFIG)
    assert urn.endswith("::budget") and message == "Cloud Billing budget amount $3,500.50 is above the policy budget $3,000.00"
